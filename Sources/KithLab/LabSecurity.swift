import Foundation
import KithControl
import KithCrypto

/// Labs authenticate node-to-node frames by default: `lab up` makes one
/// fresh cluster key per lab and hands it to every daemon, so a process that
/// can reach a gossip port but holds no key is dropped (`frames_unauthenticated`).
/// `--insecure` opts out, and the daemons say so in `status`.
package enum LabSecurity {
    /// kithd arguments shared by every node of one lab. Each lab is its own
    /// cluster (`--cluster lab-…`): a request signed for one lab is refused by
    /// another. The key goes into a 0600 file in the lab directory, never into
    /// argv, where `ps` would show it to every user.
    package static func arguments(insecure: Bool, directory: String) throws -> [String] {
        let key = ClusterKey.generate(id: 1)
        let name = ["--cluster", "lab-" + Hex.encode(key.bytes.prefix(4))]
        if insecure { return name + ["--insecure"] }
        let path = directory + "/cluster.keys"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try KeyFile.write("1:" + Hex.encode(key.bytes) + "\n", to: path)
        } catch {
            throw Failure("cannot write the lab's cluster key to \(path): \(error)")
        }
        return name + ["--cluster-key-file", path]
    }

    /// Gives node `name` its key and an operator certificate binding it to
    /// that name in the lab's cluster (named in `security`, from `arguments`):
    /// writes `dataDir/node.key` (unless one exists) and `dataDir/node.cert`,
    /// and returns the kithd arguments that use it. Insecure labs are
    /// certified too: node certificates do not depend on the cluster key.
    package static func certify(node name: String, dataDir: String, security: [String],
                                signer: OperatorSigner) throws -> [String] {
        guard let flag = security.firstIndex(of: "--cluster"), flag + 1 < security.count else { return [] }
        let cluster = security[flag + 1]
        let path = dataDir + "/" + NodeCertificate.fileName
        do {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let key = try NodeIdentity.loadOrCreate(path: dataDir + "/" + NodeIdentity.fileName).key
            let certificate = NodeCertificate.issue(cluster: cluster, node: name, key: key.publicKey, by: signer.key)
            try KeyFile.write(certificate.fileText, to: path)
        } catch {
            throw Failure("cannot certify \(name) in \(dataDir): \(error)")
        }
        return ["--node-cert", path]
    }
}
