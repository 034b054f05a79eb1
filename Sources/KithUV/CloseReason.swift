/// Why a connection ended, so owners can tell a clean goodbye from a fault or a misbehaving peer.
public enum CloseReason: Sendable, CustomStringConvertible {
    /// The peer closed its side cleanly (UV_EOF).
    case endOfStream
    /// A read or write failed, e.g. ECONNRESET.
    case error(UVError)
    /// The peer sent bytes the framing rejects (an oversized frame or line).
    case framingViolation(String)
    /// We called `close()` or `shutdownAndClose()`.
    case local

    public var description: String {
        switch self {
        case .endOfStream: "end of stream"
        case .error(let error): "error \(error)"
        case .framingViolation(let detail): "framing violation: \(detail)"
        case .local: "closed locally"
        }
    }
}
