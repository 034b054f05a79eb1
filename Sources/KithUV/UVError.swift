import CLibUV

/// A failed libuv call. libuv reports every failure as a negative errno-style code; keeping the code
/// (rather than a Swift enum) lets callers match on the few that matter and log the rest verbatim.
public struct UVError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The negative libuv code, e.g. `UV_ECONNREFUSED`.
    public let code: Int32

    public init(code: Int32) {
        self.code = code
    }

    /// The symbolic name, e.g. "ECONNREFUSED".
    public var name: String { String(cString: uv_err_name(code)) }

    /// The human-readable text, e.g. "connection refused".
    public var message: String { String(cString: uv_strerror(code)) }

    public var isConnectionRefused: Bool { code == UV_ECONNREFUSED.rawValue }

    public var description: String { "\(name): \(message)" }

    /// Throws when a libuv return value signals failure.
    static func check(_ result: Int32) throws(UVError) {
        if result < 0 { throw UVError(code: result) }
    }
}
