import Foundation
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
}
