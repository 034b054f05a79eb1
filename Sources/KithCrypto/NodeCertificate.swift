/// An operator's word that a node name speaks with one public key in one
/// cluster: `{cluster, node, key}` signed by an operator key every node
/// already trusts for signed commands. With it a node proves that it is n3,
/// so nobody else can say n3 left or sign n3's checkpoints.
///
/// The file (`DATA/node.cert`, `--node-cert`) is one line:
/// `kith-node-cert/1 CLUSTER NODE KEY OPERATOR SIG`, keys and signature in
/// hex. On the wire a node announces `key` and `wire` (operator key, then
/// signature: 96 bytes); the receiver knows the name and its own cluster.
public struct NodeCertificate: Hashable, Sendable {
    public static let label = "kith-node-cert/1"
    /// The default file name in a data directory.
    public static let fileName = "node.cert"

    public var cluster: String
    public var node: String
    public var key: [UInt8]
    public var operatorKey: [UInt8]
    public var signature: [UInt8]

    /// Signs `key` as node `node` of `cluster` with the operator's key.
    public static func issue(cluster: String, node: String, key: [UInt8], by signer: SigningKey) -> NodeCertificate {
        NodeCertificate(cluster: cluster, node: node, key: key, operatorKey: signer.publicKey,
                        signature: signer.sign(statement(cluster: cluster, node: node, key: key)))
    }

    /// The bytes the operator signs. Names cannot hold a newline (clusters
    /// hold no whitespace; node names are checked at startup), so the fields
    /// cannot run into each other.
    public static func statement(cluster: String, node: String, key: [UInt8]) -> [UInt8] {
        Array("\(label)\n\(cluster)\n\(node)\n\(Hex.encode(key))".utf8)
    }

    public init(cluster: String, node: String, key: [UInt8], operatorKey: [UInt8], signature: [UInt8]) {
        self.cluster = cluster
        self.node = node
        self.key = key
        self.operatorKey = operatorKey
        self.signature = signature
    }

    /// What a node announces beside its key: the operator's key, then the signature.
    public var wire: [UInt8] { operatorKey + signature }

    /// Nil when an operator in `trusted` (hex public keys, lower case) bound
    /// `key` to `node` in `cluster` with the certificate `wire`, else why not.
    public static func problem(wire: [UInt8], cluster: String, node: String, key: [UInt8], trusted: Set<String>) -> String? {
        guard wire.count == 96 else { return "node certificate of \(wire.count) bytes (expected 96)" }
        let operatorKey = Array(wire.prefix(32))
        guard trusted.contains(Hex.encode(operatorKey)) else { return "node certificate by an operator key not trusted here" }
        guard Ed25519.verify(signature: Array(wire.suffix(64)), message: statement(cluster: cluster, node: node, key: key),
                             publicKey: operatorKey) else {
            return "node certificate does not bind this key to \(node) in cluster '\(cluster)'"
        }
        return nil
    }

    /// The file's one line.
    public var fileText: String {
        let cluster = self.cluster.isEmpty ? "-" : self.cluster
        return "\(NodeCertificate.label) \(cluster) \(node) \(Hex.encode(key)) \(Hex.encode(operatorKey)) \(Hex.encode(signature))\n"
    }

    /// Parses `fileText`; nil when it is not one.
    public init?(fileText text: String) {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }).map(String.init)
        guard fields.count == 6, fields[0] == NodeCertificate.label, let key = Hex.decode(fields[3]), key.count == 32,
              let operatorKey = Hex.decode(fields[4]), operatorKey.count == 32,
              let signature = Hex.decode(fields[5]), signature.count == 64 else { return nil }
        self.init(cluster: fields[1] == "-" ? "" : fields[1], node: fields[2], key: key, operatorKey: operatorKey,
                  signature: signature)
    }
}
