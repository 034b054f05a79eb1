import KithCrypto

/// Labs authenticate node-to-node frames by default: `lab up` makes one
/// fresh cluster key per lab and hands it to every daemon, so a process that
/// can reach a gossip port but holds no key is dropped (`frames_unauthenticated`).
/// `--insecure` opts out, and the daemons say so in `status`.
package enum LabSecurity {
    /// kithd arguments shared by every node of one lab.
    package static func arguments(insecure: Bool) -> [String] {
        if insecure { return ["--insecure"] }
        let key = ClusterKey.generate(id: 1)
        return ["--cluster-key", "1:" + Hex.encode(key.bytes)]
    }
}
