import XCTest
import KithCore
import KithSim

/// Property 3: lossy, jittery networks cause suspicions, never deaths.
final class LossTests: XCTestCase {
    func testNoLiveNodeIsDeclaredDeadUnderFivePercentLossAndJitter() {
        var suspicions = 0, refutations = 0, probes = 0
        let seeds = SimSeeds.list(default: 3)
        for seed in seeds {
            // 1 ms + up to 4 ms, and 5% of every message lost.
            let sim = formedCluster(32, seed: seed, network: .lossy(0.05, latency: .milliseconds(1),
                                                                     jitter: .milliseconds(4)))
            sim.run(for: .seconds(60))
            let deaths = sim.observations.filter { $0.status == .dead }
            expect(deaths.isEmpty, sim, "live nodes declared dead under 5% loss: \(deaths.prefix(5))")
            expect(sim.isConverged || sim.run(until: { $0.isConverged }, timeout: .seconds(5)) != nil, sim,
                   "cluster disagrees after 60 s of loss")
            suspicions += sim.observations.filter { $0.status == .suspect }.count
            refutations += sim.refutations.count
            probes += sim.stats.sent(.ping)
        }
        figure("32 nodes, 60 s, 5% loss, 1-5 ms latency, \(seeds.count) seeds: 0 deaths, \(suspicions) suspect observations, \(refutations) refutations, \(probes) pings")
    }
}
