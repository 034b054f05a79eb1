/// Who speaks for which node: the checks behind "a node speaks only for
/// itself", injected so the core stays free of cryptography.
///
/// Every member announces its public key (and, in a cluster with node
/// certificates, the operator's certificate binding that key to its name) in
/// its `NodeMeta`. Membership pins the first key it accepts for a name (see
/// `Membership.pinnedKeys`); statements a node makes about itself (that it
/// left, that it holds a checkpoint of an agent it hosts) are then accepted
/// only with a signature by that pinned key. The daemon injects Ed25519 and
/// certificate checks against its operator keys; simulations and tests a
/// deterministic tag (`TagNodeVerifier`).
public protocol NodeVerifier: Sendable {
    /// This node's public key and certificate (empty without one), announced in its meta.
    var credential: (key: [UInt8], certificate: [UInt8]) { get }
    /// Whether `certificate` binds `key` to node `name` for this cluster.
    func certify(name: String, key: [UInt8], certificate: [UInt8]) -> CertificateVerdict
    /// Whether `signature` over `statement` was made with `key`.
    func verify(signature: [UInt8], of statement: [UInt8], key: [UInt8]) -> Bool
    /// This node's signature over `statement`.
    func sign(_ statement: [UInt8]) -> [UInt8]
}

/// What a certificate says about a key.
public enum CertificateVerdict: Hashable, Sendable {
    /// An operator bound the key to the name: it may replace a pinned key.
    case valid
    /// No certificate, and this cluster runs without them: the first key seen for a name is pinned.
    case absent
    /// A certificate that does not hold, or none where one is required.
    case invalid(String)
}

/// The canonical bytes of what a node signs about itself. Each starts with
/// its own label, so a signature over one kind of statement is never taken
/// for another.
public enum NodeStatement {
    /// The boot `id` left. Leaving is final for a boot (its uid), so the
    /// statement names no incarnation: a replay states the same fact, and
    /// the signature stays valid at whatever incarnation a relay reports.
    public static func left(_ id: NodeID) -> [UInt8] {
        var w = ByteWriter()
        w.string("kith-left/1", maxBytes: WireCodec.maxStringBytes)
        WireCodec.write(id, to: &w)
        return w.bytes
    }

    /// `host`, which runs `agent` at `generation`, made checkpoint `seq` holding `data`.
    public static func checkpoint(host: String, agent: String, generation: UInt64, seq: UInt64, data: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.string("kith-checkpoint/1", maxBytes: WireCodec.maxStringBytes)
        w.string(host, maxBytes: WireCodec.maxStringBytes)
        w.string(agent, maxBytes: WireCodec.maxAgentNameBytes)
        w.varint(generation, max: WireCodec.counterMax)
        w.varint(seq, max: WireCodec.counterMax)
        w.bytes(data, maxBytes: WireCodec.maxCheckpointBytes)
        return w.bytes
    }

    /// `record.updatedBy` wrote `record`: every field but the signature, in
    /// its wire encoding (spec, generation, version, host, host uid, pid,
    /// state, restarts, handoffs, reason, writer and the operator's proofs),
    /// so no field that matters can change under a valid signature.
    public static func agentRecord(_ record: AgentRecord) -> [UInt8] {
        var w = ByteWriter()
        w.string("kith-agent-record/1", maxBytes: WireCodec.maxStringBytes)
        WireCodec.writeUnsigned(record, to: &w)
        return w.bytes
    }
}

/// Simulated node keys: a node's key is its name's bytes, a signature is a
/// 64-bit FNV-1a tag keyed by `secret` and the key, and a certificate a tag
/// keyed by the simulated operator. No cryptographic strength (anyone who
/// knows the secret can sign for anyone): it lets simulations and unit tests
/// exercise exactly the checks the daemon makes, deterministically.
public struct TagNodeVerifier: NodeVerifier {
    public let name: String
    public let secret: UInt64
    /// Whether members must present a certificate (else the first key seen is pinned).
    public let requiresCertificates: Bool

    public init(name: String, secret: UInt64 = 0x6e6f_6465, requiresCertificates: Bool = true) {
        self.name = name
        self.secret = secret
        self.requiresCertificates = requiresCertificates
    }

    public var credential: (key: [UInt8], certificate: [UInt8]) {
        let key = Array(name.utf8)
        return (key, requiresCertificates ? certificate(name: name, key: key) : [])
    }

    /// The simulated operator's certificate for `key` as node `name`.
    public func certificate(name: String, key: [UInt8]) -> [UInt8] {
        tag(Array("cert".utf8) + Array(name.utf8) + [0] + key, keyedBy: secret ^ 0xce27)
    }

    public func certify(name: String, key: [UInt8], certificate: [UInt8]) -> CertificateVerdict {
        if certificate.isEmpty { return requiresCertificates ? .invalid("no node certificate") : .absent }
        return certificate == self.certificate(name: name, key: key) ? .valid : .invalid("bad node certificate")
    }

    public func verify(signature: [UInt8], of statement: [UInt8], key: [UInt8]) -> Bool {
        signature == tag(key + [0] + statement, keyedBy: secret)
    }

    public func sign(_ statement: [UInt8]) -> [UInt8] {
        tag(Array(name.utf8) + [0] + statement, keyedBy: secret)
    }

    func tag(_ bytes: [UInt8], keyedBy key: UInt64) -> [UInt8] {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ key
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return (0..<8).map { UInt8(truncatingIfNeeded: hash >> (56 - 8 * $0)) }
    }
}
