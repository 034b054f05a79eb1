import KithCore

/// The agent processes above each simulated node's core, as a daemon's
/// supervisor and agent socket sit above its `NodeCore`. The simulation
/// drives it:
///
/// - `booted`/`stopped` when a boot of node `i` begins or ends (a boot
///   restores the tombstones `persistedTombstones` says its data dir holds);
/// - `perform` for every directive of node `i`'s core that is not the
///   network's or membership's, with the records as they were before the input;
/// - `willHandle` before each input of node `i`, `handled` after it was carried out;
/// - `fire` for a `hook` event scheduled with `Simulation.schedule(_:after:on:)`
///   when it comes due on the same boot (held while the node is paused),
///   `discard` when that boot is gone.
protocol SimulationLayer: AnyObject {
    func booted(_ i: Int)
    func stopped(_ i: Int)
    func persistedTombstones(of node: String) -> [Tombstone]
    func perform(_ directive: NodeDirective, by i: Int, recordsBefore: [String: AgentRecord])
    func willHandle(_ input: NodeInput, at i: Int)
    func handled(_ input: NodeInput, at i: Int)
    func fire(_ token: UInt64, at i: Int)
    func discard(_ token: UInt64)
}

extension Simulation {
    /// Schedules hook `token` on node `i`'s current boot, `delay` from now.
    func schedule(_ token: UInt64, after delay: Duration, on i: Int) {
        queue.push(.hook(node: i, boot: nodes[i].boot, token: token), at: now + delay)
    }

    /// Feeds an input to node `i`'s core on behalf of its shell, and re-arms its timer.
    func shellInput(_ input: NodeInput, at i: Int) {
        guard cores[i] != nil else { return }
        self.input(input, at: i)
        changed = true
        reschedule(i)
    }
}
