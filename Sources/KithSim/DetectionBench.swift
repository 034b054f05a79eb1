import KithCore

/// What `kith-detect-bench` measures: how fast a silent failure is found and
/// whether a lossy, jittery network ever gets a live node declared dead.
/// The two pull in opposite directions, so the detector's defaults are
/// judged by both over many seeds (issue 16 item 4).
public enum DetectionBench {
    /// The LossTests network: 1 ms + up to 4 ms latency, 5% of messages lost.
    public static let lossyNetwork = NetworkConditions.lossy(0.05, latency: .milliseconds(1), jitter: .milliseconds(4))

    /// One seed of the loss property: `nodes` started together, then `duration` of loss.
    public struct LossRun: Sendable {
        public var seed: UInt64
        public var formed: Bool
        /// Observations of a live member as dead: every one is a false *dead*.
        public var deaths: [String]
        public var suspicions: Int
        public var refutations: Int
        public var pings: Int
        /// For the first false *dead*: every observation of its subject and of its refutations in the 10 s before.
        public var story: [String]
    }

    /// Runs the loss property for one seed (the LossTests scenario) without per-input invariant checks.
    public static func loss(seed: UInt64, nodes: Int = 32, duration: Duration = .seconds(60),
                            settings: MembershipSettings = .lan) -> LossRun {
        let sim = Simulation(seed: seed, settings: settings, network: lossyNetwork)
        sim.nodeSettings.checksInvariants = false
        sim.startCluster(nodes: nodes)
        let formed = sim.run(until: { $0.everyoneSeesEveryoneAlive }, timeout: .seconds(30), resolution: .milliseconds(10)) != nil
        let from = sim.now
        sim.run(for: duration)
        // No node is ever stopped here, so any dead verdict is a false one.
        let dead = sim.observations.filter { $0.status == .dead }
        let deaths = dead.map(\.description)
        var story: [String] = []
        if let first = dead.first {
            let window = (first.time + .seconds(-10))...first.time
            story = sim.observations.filter { window.contains($0.time) && $0.subject.name == first.subject.name }.map(\.description)
                + sim.refutations.filter { window.contains($0.time) && $0.node == first.subject }
                    .map { "\(Simulation.format($0.time)) \($0.node.name) refutes with incarnation \($0.incarnation)" }
            if let own = sim.membership(first.subject.name) {
                story.append("at the end \(first.subject.name) holds incarnation \(own.incarnation), local health \(own.localHealth); "
                             + "\(sim.refutations.filter { $0.node == first.subject }.map { "\(Simulation.format($0.time)) to \($0.incarnation)" })")
            }
        }
        let suspicions = sim.observations.filter { $0.time >= from && $0.status == .suspect }.count
        return LossRun(seed: seed, formed: formed, deaths: deaths, suspicions: suspicions,
                       refutations: sim.refutations.count, pings: sim.stats.sent(.ping), story: story)
    }

    /// When survivors marked a stopped node dead, from the stop.
    public struct DetectionRun: Sendable {
        public var seed: UInt64
        public var firstSuspicion: Duration?
        public var firstDead: Duration?
        public var lastDead: Duration?
    }

    /// Forms a cluster on a clean network, runs it a second, then pauses
    /// (SIGSTOP) or crashes (`crash`) one non-seed node and runs until every
    /// survivor sees it dead (at most 10 s).
    public static func detection(seed: UInt64, nodes: Int = 32, crash: Bool = false,
                                 settings: MembershipSettings = .lan) -> DetectionRun {
        let sim = Simulation(seed: seed, settings: settings)
        sim.nodeSettings.checksInvariants = false
        sim.startCluster(nodes: nodes)
        _ = sim.run(until: { $0.everyoneSeesEveryoneAlive }, timeout: .seconds(30), resolution: .milliseconds(10))
        sim.run(for: .seconds(1))
        // A seed-dependent victim past the seeds, as the lab bench picks one.
        let victim = Simulation.name(4 + Int(seed % UInt64(max(1, nodes - 3))))
        let at = sim.now
        if crash { sim.crash(victim) } else { sim.pause(victim) }
        _ = sim.run(until: { $0.everyone(sees: victim, as: .dead) }, timeout: .seconds(10))
        let spread = sim.spread(of: victim, as: .dead, since: at)
        let suspected = sim.observations.first { $0.time >= at && $0.subject.name == victim && $0.status == .suspect }
        return DetectionRun(seed: seed, firstSuspicion: suspected.map { $0.time.since(at) },
                            firstDead: spread?.first, lastDead: spread?.last)
    }
}
