/// Injected network faults for chaos experiments: this node stops sending
/// gossip and agent traffic to the named peers until a deadline.
///
/// A partition is set on every node of both groups (each drops what it would
/// send across), a one-way cut only on the sending side. Every rule expires
/// by itself, held here and not by the coordinator, so a partition heals on
/// time even if `kithctl` dies. The control port is never filtered, so
/// `heal` always gets through.
struct FaultFilter {
    struct Rule: Equatable {
        var peers: Set<String>
        var untilMs: UInt64
    }

    private(set) var rules: [Rule] = []
    private(set) var framesFiltered: UInt64 = 0

    /// The longest a fault may last: a forgotten fault must not outlive an experiment.
    static let maxDurationMs: UInt64 = 24 * 3600 * 1000

    mutating func block(_ peers: Set<String>, forMs duration: UInt64, nowMs: UInt64) {
        rules.append(Rule(peers: peers, untilMs: nowMs + min(duration, FaultFilter.maxDurationMs)))
    }

    mutating func heal() { rules = [] }

    /// Whether a frame to `peer` must be dropped now; expired rules go.
    mutating func drops(to peer: String, nowMs: UInt64) -> Bool {
        guard !rules.isEmpty else { return false }
        rules.removeAll { $0.untilMs <= nowMs }
        guard rules.contains(where: { $0.peers.contains(peer) }) else { return false }
        framesFiltered += 1
        return true
    }

    func blockedPeers(nowMs: UInt64) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for rule in rules where rule.untilMs > nowMs {
            for peer in rule.peers { out[peer] = max(out[peer] ?? 0, rule.untilMs - nowMs) }
        }
        return out
    }
}
