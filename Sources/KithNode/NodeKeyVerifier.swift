import KithCore
import KithCrypto

/// The daemon's `NodeVerifier`: Ed25519 with the node's own key
/// (`DATA/node.key`), and node certificates checked against the operator
/// keys this node obeys, for its cluster.
///
/// A node that was given a certificate (`node_cert`) requires one from every
/// member: a cluster is either certified throughout or not at all. A node
/// without one accepts members without certificates and membership pins the
/// first key it sees per name (trust on first use, weaker: see the README's
/// threat model); a certificate that is present must still hold.
struct NodeKeyVerifier: NodeVerifier {
    let key: SigningKey
    let certificate: NodeCertificate?
    /// Hex public keys (lower case) of the operators this node obeys.
    let trusted: Set<String>
    let cluster: String

    init(key: SigningKey, certificate: NodeCertificate?, trusted: [String], cluster: String) {
        self.key = key
        self.certificate = certificate
        self.trusted = Set(trusted.map { $0.lowercased() })
        self.cluster = cluster
    }

    var credential: (key: [UInt8], certificate: [UInt8]) { (key.publicKey, certificate?.wire ?? []) }

    func certify(name: String, key: [UInt8], certificate wire: [UInt8]) -> CertificateVerdict {
        if wire.isEmpty { return certificate == nil ? .absent : .invalid("no node certificate, and this cluster requires them") }
        if let problem = NodeCertificate.problem(wire: wire, cluster: cluster, node: name, key: key, trusted: trusted) {
            return .invalid(problem)
        }
        return .valid
    }

    func verify(signature: [UInt8], of statement: [UInt8], key: [UInt8]) -> Bool {
        Ed25519.verify(signature: signature, message: statement, publicKey: key)
    }

    func sign(_ statement: [UInt8]) -> [UInt8] { key.sign(statement) }

    /// The certificate at `path` for this node, or why it cannot be used: it
    /// must name this node, cluster and key and be signed by a trusted
    /// operator, so a wrong file stops the daemon at start, not its peers later.
    static func loadCertificate(path: String, node: String, cluster: String, key: [UInt8],
                                trusted: [String]) -> Result<NodeCertificate, NodeError> {
        let text: String
        do { text = try KeyFile.read(path) } catch { return .failure(NodeError("node_cert: \(error)")) }
        guard let certificate = NodeCertificate(fileText: text) else {
            return .failure(NodeError("node_cert \(path) is not a node certificate (kithctl node certify writes one)"))
        }
        guard certificate.node == node, certificate.cluster == cluster, certificate.key == key else {
            return .failure(NodeError("node_cert \(path) is for node \(certificate.node) in cluster '\(certificate.cluster)' "
                                      + "with another key; this is \(node) in cluster '\(cluster)'"))
        }
        if let problem = NodeCertificate.problem(wire: certificate.wire, cluster: cluster, node: node, key: key,
                                                 trusted: Set(trusted.map { $0.lowercased() })) {
            return .failure(NodeError("node_cert \(path): \(problem)"))
        }
        return .success(certificate)
    }
}

extension Node {
    /// This node's key (created with the event log) and, when `node_cert` is set, its checked certificate.
    static func nodeVerifier(_ config: NodeConfig, dataDir: String) throws(NodeError) -> NodeKeyVerifier {
        let key: SigningKey
        do { key = try NodeIdentity.loadOrCreate(path: dataDir + "/" + NodeIdentity.fileName).key } catch {
            throw NodeError("node key: \(error)")
        }
        var certificate: NodeCertificate?
        if !config.nodeCert.isEmpty {
            switch NodeKeyVerifier.loadCertificate(path: config.nodeCert, node: config.name, cluster: config.cluster,
                                                   key: key.publicKey, trusted: config.operatorKeys) {
            case .success(let loaded): certificate = loaded
            case .failure(let error): throw error
            }
        }
        return NodeKeyVerifier(key: key, certificate: certificate, trusted: config.operatorKeys, cluster: config.cluster)
    }
}

extension Node {
    /// Records, tombstones, checkpoints and membership rumours refused as forged (saturating).
    var framesRefused: UInt64 {
        let sum = core.registry.forgedRefused.addingReportingOverflow(core.membership.forgedRefused)
        return sum.overflow ? .max : sum.partialValue
    }
}
