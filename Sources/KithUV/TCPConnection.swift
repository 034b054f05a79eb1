import CLibUV

/// A framed TCP stream: the stream machinery is shared with Unix domain sockets in `StreamConnection`.
public typealias TCPConnection = StreamConnection

extension StreamConnection {
    /// Resolves `host` (an IP literal or a DNS name), tries each address in turn and hands over a
    /// connection with TCP_NODELAY and keepalive on. `completion` runs exactly once, never synchronously;
    /// if the whole attempt takes longer than `timeoutMilliseconds` it fails with ETIMEDOUT.
    public static func connect(
        loop: EventLoop, host: String, port: UInt16, framing: Framing, maxQueuedBytes: Int = ShellLimits.queuedBytesDefault,
        timeoutMilliseconds: UInt64 = ShellLimits.connectTimeoutMillisecondsDefault,
        completion: @escaping (Result<TCPConnection, UVError>) -> Void
    ) {
        ConnectAttempt(
            loop: loop, framing: framing, maxQueuedBytes: maxQueuedBytes, completion: completion
        ).start(host: host, port: port, timeoutMilliseconds: timeoutMilliseconds)
    }
}
