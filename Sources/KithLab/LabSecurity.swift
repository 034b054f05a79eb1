import KithCrypto

/// Labs authenticate node-to-node frames by default: `lab up` makes one
/// fresh cluster key per lab and hands it to every daemon, so a process that
/// can reach a gossip port but holds no key is dropped (`frames_unauthenticated`).
/// `--insecure` opts out, and the daemons say so in `status`.
package enum LabSecurity {
    /// kithd arguments shared by every node of one lab.
    /// Each lab is its own cluster (`--cluster lab-…`): a request signed for one lab is refused by another.
    package static func arguments(insecure: Bool) -> [String] {
        let key = ClusterKey.generate(id: 1)
        let name = ["--cluster", "lab-" + Hex.encode(key.bytes.prefix(4))]
        if insecure { return name + ["--insecure"] }
        return name + ["--cluster-key", "1:" + Hex.encode(key.bytes)]
    }
}
