import KithCore

/// A protocol layer stacked on each simulated node's membership, as the
/// daemon stacks the agent registry on it. The simulation drives it:
///
/// - `booted`/`stopped` when a boot of node `i` begins or ends;
/// - `viewChanged` once after any input whose directives changed node
///   `i`'s membership table (the daemon's `updateView` rule);
/// - `receive` for each message delivered to a running node, before
///   membership sees it (return true to consume it);
/// - `tick` whenever node `i`'s timer fires; the timer is armed at the
///   earlier of membership's and `nextDeadline(i)`;
/// - `fire` for a `hook` event scheduled with `Simulation.schedule(_:at:on:)`
///   when it comes due on the same boot (held while the node is paused),
///   `discard` when that boot is gone.
///
/// After an input that is not one of these, a layer calls
/// `Simulation.rearm(_:)` so the node's timer sees its new deadline.
protocol SimulationLayer: AnyObject {
    func booted(_ i: Int)
    func stopped(_ i: Int)
    func viewChanged(_ i: Int)
    func receive(_ message: Message, at i: Int) -> Bool
    func tick(_ i: Int)
    func nextDeadline(_ i: Int) -> Instant?
    func fire(_ token: UInt64, at i: Int)
    func discard(_ token: UInt64)
}

extension Simulation {
    /// Schedules hook `token` on node `i`'s current boot, `delay` from now.
    func schedule(_ token: UInt64, after delay: Duration, on i: Int) {
        queue.push(.hook(node: i, boot: nodes[i].boot, token: token), at: now + delay)
    }

    /// Re-arms node `i`'s timer after a layer changed its deadlines.
    func rearm(_ i: Int) {
        changed = true
        reschedule(i)
    }
}
