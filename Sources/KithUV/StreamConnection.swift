import CLibUV
import Glibc

/// One framed byte stream over TCP or a Unix domain socket (`TCPConnection` is the same class). It
/// keeps itself alive while its handle is open (owners may drop it), reads into a fixed 64 KiB buffer,
/// and bounds both directions: incoming frames by `Framing`, outgoing bytes by `maxQueuedBytes`, so a
/// slow or hostile peer costs bounded memory.
public final class StreamConnection: HandleOwner {
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
    /// The peer as "ip:port" ("[ip]:port" for IPv6) for TCP, or "unix" for a Unix domain socket,
    /// captured when the connection opened.
    public private(set) var peerAddress = ""
    /// Whether `pauseReading()` is in effect.
    public private(set) var isReadingPaused = false

    public var isOpen: Bool { state == .open }

    /// The socket under the stream.
    enum Kind { case tcp, pipe }

    private enum State { case connecting, open, shuttingDown, closing, closed }

    let kind: Kind
    /// A uv_tcp_t or uv_pipe_t, used through its uv_stream_t prefix.
    let stream: UVHandle<uv_stream_t>
    private let loop: EventLoop  // the uv_loop_t must outlive the handle
    /// Frames sent while the loop is corked, written together by `flushBatch`.
    private var batch: [UInt8] = []
    private let maxQueuedBytes: Int
    private var reader: FrameReader
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ShellLimits.readBufferBytes, alignment: 1)
    private var state = State.connecting
    private var closeReason = CloseReason.local
    /// The caller of `connectUnix` while its uv_pipe_connect is in flight.
    private var connectCompletion: ((Result<StreamConnection, UVError>) -> Void)?

    /// A handle that is not connected yet: accept into it, or connect it.
    init(loop: EventLoop, kind: Kind, framing: Framing, maxQueuedBytes: Int) throws(UVError) {
        let stream: UVHandle<uv_stream_t>
        let initialised: Int32
        switch kind {
        case .tcp:
            stream = UVHandle(sizedFor: uv_tcp_t.self)
            initialised = uv_tcp_init(loop.uvLoop, stream.pointer(as: uv_tcp_t.self))
        case .pipe:
            stream = UVHandle(sizedFor: uv_pipe_t.self)
            initialised = uv_pipe_init(loop.uvLoop, stream.pointer(as: uv_pipe_t.self), 0)
        }
        guard initialised == 0 else {
            stream.deallocateUninitialised()
            readBuffer.deallocate()
            throw UVError(code: initialised)
        }
        self.kind = kind
        self.stream = stream
        self.loop = loop
        self.maxQueuedBytes = maxQueuedBytes
        reader = FrameReader(framing: framing)
        stream.adopt(self)
    }

    deinit {
        readBuffer.deallocate()
    }

    /// Accepts the pending peer of the listening `server` into a new, reading connection; nil when that
    /// fails, which concerns one peer only, so listeners simply keep listening.
    static func accept(
        from server: UnsafeMutablePointer<uv_stream_t>, kind: Kind, loop: EventLoop, framing: Framing,
        maxQueuedBytes: Int
    ) -> StreamConnection? {
        guard let connection = try? StreamConnection(loop: loop, kind: kind, framing: framing,
                                                     maxQueuedBytes: maxQueuedBytes) else { return nil }
        guard uv_accept(server, connection.stream.pointer) == 0 else {
            connection.close()
            return nil
        }
        connection.didOpen()
        return connection
    }

    /// Connects to the Unix domain socket at `path` (see `UnixListener`). `completion` runs exactly once,
    /// never synchronously: with the reading connection, the connect error (ENOENT, ECONNREFUSED, ...),
    /// ENAMETOOLONG for a path the socket address cannot hold, or ECANCELED if `EventLoop.closeAll` ends it.
    public static func connectUnix(
        loop: EventLoop, path: String, framing: Framing, maxQueuedBytes: Int = ShellLimits.queuedBytesDefault,
        completion: @escaping (Result<StreamConnection, UVError>) -> Void
    ) {
        let connection: StreamConnection
        do {
            try checkUnixSocketPath(path)
            connection = try StreamConnection(loop: loop, kind: .pipe, framing: framing, maxQueuedBytes: maxQueuedBytes)
        } catch {
            return reportFromLoop(loop) { completion(.failure(error)) }
        }
        connection.connectCompletion = completion
        let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        // Never fails synchronously: libuv reports every error through the callback on a later tick.
        uv_pipe_connect(request, connection.stream.pointer(as: uv_pipe_t.self), path) { request, status in
            let connection: StreamConnection = owner(of: request!.pointee.handle)
            request!.deallocate()
            connection.didConnectUnix(status: status)
        }
    }

    private func didConnectUnix(status: Int32) {
        guard let completion = connectCompletion else { return }
        connectCompletion = nil
        guard status == 0, state == .connecting else {
            close()
            return completion(.failure(UVError(code: status == 0 ? UV_ECANCELED.rawValue : status)))
        }
        didOpen()
        completion(.success(self))
    }

    /// Called once connected or accepted: configures the socket and starts reading.
    func didOpen() {
        state = .open
        switch kind {
        case .tcp:
            let tcp = stream.pointer(as: uv_tcp_t.self)
            uv_tcp_nodelay(tcp, 1)
            uv_tcp_keepalive(tcp, 1, ShellLimits.keepAliveDelaySeconds)
            peerAddress = (try? SocketAddress(of: tcp, uv_tcp_getpeername))?.description ?? "?"
        case .pipe:
            peerAddress = "unix"
        }
        startReading()
    }

    private func startReading() {
        let started = uv_read_start(stream.pointer, { handle, _, buffer in
            let connection: StreamConnection = owner(of: handle)
            buffer!.pointee = uv_buf_init(
                connection.readBuffer.baseAddress!.assumingMemoryBound(to: CChar.self),
                UInt32(connection.readBuffer.count))
        }, { handle, count, _ in
            let connection: StreamConnection = owner(of: handle)
            connection.didRead(count)
        })
        if started < 0 { close(because: .error(UVError(code: started))) }
    }

    /// Stops reading from the socket (uv_read_stop), so the kernel buffers fill and the peer's writes
    /// back up: back-pressure towards the sender. Frames already cut from the current read are still
    /// delivered. A closed peer goes unnoticed until `resumeReading()`. No-op unless open; idempotent.
    public func pauseReading() {
        guard state == .open, !isReadingPaused else { return }
        isReadingPaused = true
        uv_read_stop(stream.pointer)
    }

    /// Undoes `pauseReading()`; idempotent.
    public func resumeReading() {
        guard isReadingPaused else { return }
        isReadingPaused = false
        if state == .open { startReading() }
    }

    /// The pid and uid of the process at the other end of a Unix domain socket (SO_PEERCRED, as of its
    /// connect or listen), so a server can tell which local process is speaking. Nil for TCP, or once closed.
    public func peerCredentials() -> (pid: Int32, uid: UInt32)? {
        guard kind == .pipe, state == .open || state == .shuttingDown else { return nil }
        var fd: uv_os_fd_t = -1
        guard uv_fileno(stream.handle, &fd) == 0 else { return nil }
        var credentials = PeerCredentials()
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0,
              Int(length) == MemoryLayout<PeerCredentials>.size else { return nil }
        return (credentials.pid, credentials.uid)
    }

    /// Queues `payload`, framed, for writing. Returns false and drops it when the connection is not open,
    /// the framing cannot carry it (a line containing '\n'), or it would push `queuedBytes` past
    /// `maxQueuedBytes` — back-pressure the caller can act on instead of buffering without bound.
    @discardableResult
    public func send(_ payload: [UInt8]) -> Bool {
        guard state == .open, let size = reader.framing.wireSize(of: payload),
              queuedBytes + size <= maxQueuedBytes else { return false }
        if loop.corkDepth > 0 {
            if batch.isEmpty { loop.corkedConnections.append(self) }
            let start = batch.count
            batch.append(contentsOf: repeatElement(0, count: size))
            batch.withUnsafeMutableBytes { reader.framing.encode(payload, into: UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
            queuedBytes += size
            return true
        }
        let write = PendingWrite(byteCount: size)
        reader.framing.encode(payload, into: write.bytes)
        return submit(write)
    }

    /// Writes the frames batched while the loop was corked, with one uv_write.
    func flushBatch() {
        guard !batch.isEmpty else { return }
        queuedBytes -= batch.count
        defer { batch.removeAll(keepingCapacity: batch.count <= ShellLimits.batchBytesKeptMax) }
        guard state == .open else { return }
        let write = PendingWrite(byteCount: batch.count)
        batch.withUnsafeBytes { write.bytes.copyMemory(from: $0) }
        submit(write)
    }

    /// Hands one buffer to uv_write; a refusal closes the connection.
    @discardableResult
    private func submit(_ write: PendingWrite) -> Bool {
        let size = write.bytes.count
        var buffer = uv_buf_init(write.bytes.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(size))
        write.request.pointee.data = Unmanaged.passRetained(write).toOpaque()
        let result = uv_write(write.request, stream.pointer, &buffer, 1) { request, status in
            let write = Unmanaged<PendingWrite>.fromOpaque(request!.pointee.data).takeRetainedValue()
            let connection: StreamConnection = owner(of: request!.pointee.handle)
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
        uv_read_stop(stream.pointer)
        let request = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        let result = uv_shutdown(request, stream.pointer) { request, _ in
            let connection: StreamConnection = owner(of: request!.pointee.handle)
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
        stream.close()
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
        loop.cork()
        defer { loop.uncork() }
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

/// Linux's `struct ucred`, which Glibc only declares under _GNU_SOURCE.
private struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
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

/// Runs `report` from a later loop iteration (a zero timer), so callers never see re-entrant completions.
/// It runs exactly once: from the timer, or from the close callback when `EventLoop.closeAll` gets there first.
func reportFromLoop(_ loop: EventLoop, _ report: @escaping () -> Void) {
    let timer = Timer(loop: loop)
    timer.onClosed = report
    timer.start(afterMilliseconds: 0) { timer.close() }
}
