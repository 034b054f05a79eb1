import CLibUV

/// A listening TCP socket that hands each accepted peer over as a reading `TCPConnection` with the
/// listener's framing and queue limit. libuv sets SO_REUSEADDR on bind, so restarts can reuse the port.
public final class TCPListener: HandleOwner {
    /// The port actually bound, which differs from the requested one when that was 0.
    public private(set) var boundPort: UInt16

    private let loop: EventLoop  // the uv_loop_t must outlive the handle
    private let tcp = UVHandle<uv_tcp_t>()
    private let framing: Framing
    private let maxQueuedBytes: Int
    private var onConnection: ((TCPConnection) -> Void)?
    private var isClosing = false

    /// Binds `host` (an IPv4 or IPv6 literal such as "0.0.0.0", "127.0.0.1" or "::") and starts listening.
    public init(
        loop: EventLoop, host: String, port: UInt16, framing: Framing, maxQueuedBytes: Int = 4 << 20,
        backlog: Int32 = 511, onConnection: @escaping (TCPConnection) -> Void
    ) throws(UVError) {
        let address: SocketAddress
        do {
            address = try SocketAddress(ip: host, port: port)
        } catch {
            tcp.deallocateUninitialised()
            throw error
        }
        let initialised = uv_tcp_init(loop.uvLoop, tcp.pointer)
        guard initialised == 0 else {
            tcp.deallocateUninitialised()
            throw UVError(code: initialised)
        }
        self.loop = loop
        self.framing = framing
        self.maxQueuedBytes = maxQueuedBytes
        self.onConnection = onConnection
        boundPort = port
        tcp.adopt(self)
        do {
            try UVError.check(address.withSockaddr { uv_tcp_bind(tcp.pointer, $0, 0) })
            try UVError.check(uv_listen(tcp.stream, backlog) { server, status in
                let listener: TCPListener = owner(of: server)
                listener.accept(status: status)
            })
            boundPort = try SocketAddress(of: tcp.pointer, uv_tcp_getsockname).port
        } catch {
            close()
            throw error
        }
    }

    /// Stops accepting; connections already handed out stay open. Idempotent.
    public func close() {
        guard !isClosing else { return }
        isClosing = true
        onConnection = nil
        tcp.close()
    }

    func handleDidClose() {}

    private func accept(status: Int32) {
        // A failed accept (EMFILE, ECONNABORTED, ...) concerns one peer, not the listener: keep listening.
        guard status == 0, !isClosing,
              let connection = StreamConnection.accept(from: tcp.stream, kind: .tcp, loop: loop, framing: framing,
                                                       maxQueuedBytes: maxQueuedBytes)
        else { return }
        onConnection?(connection)
    }
}
