import KithJSON

/// What the operator's client and the daemon's authority must agree on about
/// a control request: which commands need no signature, and the exact bytes a
/// signature covers. One definition, so the two sides cannot drift apart.
public enum OperatorRequest {
    /// Commands that only read may be unsigned; everything else must be signed.
    public static let readOnlyCommands: Set<String> = ["members", "status", "agents", "events", "logs"]

    /// The signed form of a request: the whole object, `auth.sig` left out,
    /// serialized canonically (sorted keys, compact). Empty without `auth`.
    public static func signedBytes(of request: JSON) -> [UInt8] {
        guard var object = request.objectValue, var auth = object["auth"]?.objectValue else { return [] }
        auth["sig"] = nil
        object["auth"] = .object(auth)
        return Array(JSON.object(object).serialized().utf8)
    }
}
