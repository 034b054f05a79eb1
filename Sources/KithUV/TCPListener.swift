import CLibUV

/// A listening TCP socket that hands each accepted peer over as a reading `TCPConnection` with the
/// listener's framing and queue limit. libuv sets SO_REUSEADDR on bind, so restarts can reuse the port.
public final class TCPListener {
    /// The port actually bound, which differs from the requested one when that was 0.
    public let boundPort: UInt16

    private let listener: StreamListener

    /// Binds `host` (an IPv4 or IPv6 literal such as "0.0.0.0", "127.0.0.1" or "::") and starts listening.
    public init(
        loop: EventLoop, host: String, port: UInt16, framing: Framing, maxQueuedBytes: Int = ShellLimits.queuedBytesDefault,
        backlog: Int32 = ShellLimits.tcpBacklogDefault, onConnection: @escaping (TCPConnection) -> Void
    ) throws(UVError) {
        let address = try SocketAddress(ip: host, port: port)
        listener = try StreamListener(
            loop: loop, kind: .tcp, uv_tcp_t.self, framing: framing, maxQueuedBytes: maxQueuedBytes, backlog: backlog,
            onConnection: onConnection, initialise: { uv_tcp_init(loop.uvLoop, $0) },
            bind: { tcp throws(UVError) in try UVError.check(address.withSockaddr { uv_tcp_bind(tcp, $0, 0) }) })
        do {
            boundPort = try SocketAddress(of: listener.stream.pointer(as: uv_tcp_t.self), uv_tcp_getsockname).port
        } catch {
            listener.close()
            throw error
        }
    }

    /// Stops accepting; connections already handed out stay open. Idempotent.
    public func close() {
        listener.close()
    }
}
