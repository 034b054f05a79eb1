/// A node that may have been declared dead stops its agents first: the
/// cluster may have relaunched them elsewhere while it was frozen or cut off.
extension NodeCore {
    /// The shell saw a gap of `gap` without any callback. Longer than the
    /// shortest suspicion timeout, the members may have declared this node
    /// dead meanwhile (SWIM 4.2: a suspicion ends in a death unrefuted),
    /// so its agents are fenced before anything else is handled.
    mutating func resumed(after gap: Duration, now: Instant, into out: inout [NodeDirective]) {
        let threshold = membership.suspicionBounds.minimum
        let milliseconds = gap.nanoseconds / 1_000_000
        guard gap >= threshold else {
            out.append(.record(NodeEvent(.info, "time_jump", ["ms": .int(milliseconds), "fenced": false])))
            return
        }
        out.append(.record(NodeEvent(.warn, "time_jump", ["ms": .int(milliseconds), "fenced": true,
                                                          "suspicion_ms": .int(threshold.nanoseconds / 1_000_000)])))
        fenceLocalAgents(because: "frozen for \(milliseconds) ms, longer than a suspicion timeout", now: now, into: &out)
    }

    /// SIGKILLs every local agent process (by cgroup) and holds its restart
    /// until the registry has had time to hear of a relaunch elsewhere.
    mutating func fenceLocalAgents(because reason: String, now: Instant, into out: inout [NodeDirective]) {
        guard !isStopping else { return }
        for agent in registry.fenceAll(now: now) {
            out.append(.record(NodeEvent(.warn, "agent_fenced_stale", ["agent": .string(agent), "reason": .string(reason)])))
            out.append(.fenceAgent(agent))
        }
    }
}
