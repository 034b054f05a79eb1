import CLibUV

/// One framed TCP stream. It keeps itself alive while its handle is open (owners may drop it), reads
/// into a fixed 64 KiB buffer, and bounds both directions: incoming frames by `Framing`, outgoing bytes
/// by `maxQueuedBytes`, so a slow or hostile peer costs bounded memory.
public final class TCPConnection: HandleOwner {
    /// Delivers each complete frame's payload, in order.
    public var onFrame: (([UInt8]) -> Void)?
    /// Called exactly once, when the handle has closed for whatever reason (including our own `close()`).
    /// All callbacks are cleared afterwards, which breaks cycles through closures capturing the connection.
    public var onClose: ((CloseReason) -> Void)?
    /// Called when `queuedBytes` returns to 0, i.e. the peer has caught up.
    public var onDrain: (() -> Void)?

    /// Framed bytes handed to uv_write and not yet completed.
    public private(set) var queuedBytes = 0
    /// Framed bytes (prefixes and newlines included) whose writes completed.
    public private(set) var bytesSent: UInt64 = 0
    public private(set) var bytesReceived: UInt64 = 0
    /// The peer as "ip:port" ("[ip]:port" for IPv6), captured when the connection opened.
    public private(set) var peerAddress = ""

    public var isOpen: Bool { state == .open }

    private enum State { case connecting, open, shuttingDown, closing, closed }

    private static let readBufferSize = 64 << 10

    private let loop: EventLoop  // the uv_loop_t must outlive the handle
    private let tcp = UVHandle<uv_tcp_t>()
    private let maxQueuedBytes: Int
    private var reader: FrameReader
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readBufferSize, alignment: 1)
    private var state = State.connecting
    private var closeReason = CloseReason.local

    /// A handle that is not connected yet: accept into it, or connect it.
    init(loop: EventLoop, framing: Framing, maxQueuedBytes: Int) throws(UVError) {
        let initialised = uv_tcp_init(loop.uvLoop, tcp.pointer)
        guard initialised == 0 else {
            tcp.deallocateUninitialised()
            readBuffer.deallocate()
            throw UVError(code: initialised)
        }
        self.loop = loop
        self.maxQueuedBytes = maxQueuedBytes
        reader = FrameReader(framing: framing)
        tcp.adopt(self)
    }

    deinit {
        readBuffer.deallocate()
    }

    var handle: UnsafeMutablePointer<uv_tcp_t> { tcp.pointer }

    /// Resolves `host` (an IP literal or a DNS name), tries each address in turn and hands over a
    /// connection with TCP_NODELAY and keepalive on. `completion` runs exactly once, never synchronously;
    /// if the whole attempt takes longer than `timeoutMilliseconds` it fails with ETIMEDOUT.
    public static func connect(
        loop: EventLoop, host: String, port: UInt16, framing: Framing, maxQueuedBytes: Int = 4 << 20,
        timeoutMilliseconds: UInt64 = 2000,
        completion: @escaping (Result<TCPConnection, UVError>) -> Void
    ) {
        ConnectAttempt(
            loop: loop, framing: framing, maxQueuedBytes: maxQueuedBytes, completion: completion
        ).start(host: host, port: port, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Called once connected or accepted: configures the socket and starts reading.
    func didOpen() {
        state = .open
        uv_tcp_nodelay(tcp.pointer, 1)
        uv_tcp_keepalive(tcp.pointer, 1, 30)
        peerAddress = (try? SocketAddress(of: tcp.pointer, uv_tcp_getpeername))?.description ?? "?"
        let started = uv_read_start(tcp.stream, { handle, _, buffer in
            let connection: TCPConnection = owner(of: handle)
            buffer!.pointee = uv_buf_init(
                connection.readBuffer.baseAddress!.assumingMemoryBound(to: CChar.self),
                UInt32(connection.readBuffer.count))
        }, { handle, count, _ in
            let connection: TCPConnection = owner(of: handle)
            connection.didRead(count)
        })
        if started < 0 { close(because: .error(UVError(code: started))) }
    }

    /// Queues `payload`, framed, for writing. Returns false and drops it when the connection is not open,
    /// the framing cannot carry it (a line containing '\n'), or it would push `queuedBytes` past
    /// `maxQueuedBytes` — back-pressure the caller can act on instead of buffering without bound.
    @discardableResult
    public func send(_ payload: [UInt8]) -> Bool {
        guard state == .open, let size = reader.framing.wireSize(of: payload),
              queuedBytes + size <= maxQueuedBytes else { return false }
        let write = PendingWrite(byteCount: size)
        reader.framing.encode(payload, into: write.bytes)
        var buffer = uv_buf_init(write.bytes.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(size))
        write.request.pointee.data = Unmanaged.passRetained(write).toOpaque()
        let result = uv_write(write.request, tcp.stream, &buffer, 1) { request, status in
            let write = Unmanaged<PendingWrite>.fromOpaque(request!.pointee.data).takeRetainedValue()
            let connection: TCPConnection = owner(of: request!.pointee.handle)
            connection.didWrite(byteCount: write.bytes.count, status: status)
        }
        guard result == 0 else {
            Unmanaged.passUnretained(write).release()
            close(because: .error(UVError(code: result)))
            return false
        }
        queuedBytes += size
        return true
    }

    /// Closes now, dropping unwritten data; `onClose(.local)` follows from the close callback. Idempotent.
    public func close() {
        close(because: .local)
    }

    /// Stops reading, lets queued writes finish, shuts down the sending side, then closes with `.local`.
    /// For graceful exits; if the peer never drains, use `close()` after a deadline.
    public func shutdownAndClose() {
        guard state == .open else { return }
        state = .shuttingDown
        uv_read_stop(tcp.stream)
        let request = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        let result = uv_shutdown(request, tcp.stream) { request, _ in
            let connection: TCPConnection = owner(of: request!.pointee.handle)
            request!.deallocate()
            connection.close()
        }
        if result < 0 {
            request.deallocate()
            close()
        }
    }

    private func close(because reason: CloseReason) {
        guard state != .closing, state != .closed else { return }
        state = .closing
        closeReason = reason
        tcp.close()
    }

    func handleDidClose() {
        state = .closed
        let onClose = self.onClose
        self.onClose = nil
        onFrame = nil
        onDrain = nil
        onClose?(closeReason)
    }

    private func didRead(_ count: Int) {
        guard count >= 0 else {
            let code = Int32(count)
            close(because: code == UV_EOF.rawValue ? .endOfStream : .error(UVError(code: code)))
            return
        }
        bytesReceived += UInt64(count)
        let (frames, violation) = reader.feed(UnsafeRawBufferPointer(rebasing: readBuffer[..<count]))
        for frame in frames {
            guard state == .open else { return }
            onFrame?(frame)
        }
        if let violation { close(because: .framingViolation(violation)) }
    }

    private func didWrite(byteCount: Int, status: Int32) {
        queuedBytes -= byteCount
        if status == 0 {
            bytesSent += UInt64(byteCount)
        } else if status != UV_ECANCELED.rawValue {
            close(because: .error(UVError(code: status)))
        }
        if queuedBytes == 0, state == .open { onDrain?() }
    }
}

/// One uv_write in flight: the request and the framed bytes, kept alive until the write callback.
private final class PendingWrite {
    let request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
    let bytes: UnsafeMutableRawBufferPointer

    init(byteCount: Int) {
        bytes = .allocate(byteCount: byteCount, alignment: 1)
    }

    deinit {
        request.deallocate()
        bytes.deallocate()
    }
}
