import XCTest
import KithCore
import KithSim

/// Property 1: nodes started together all come to see each other alive.
final class JoinConvergenceTests: XCTestCase {
    /// Starts `n` nodes per seed; every pair must see each other alive
    /// within `bound`. Returns the convergence times and how many runs
    /// converged by gossip alone within `gossipBound`.
    private func join(_ n: Int, seeds: [UInt64], bound: Duration,
                      gossipBound: Duration) -> (figures: Figures, byGossip: Int) {
        var figures = Figures()
        var byGossip = 0
        for seed in seeds {
            let sim = Simulation(seed: seed)
            sim.startCluster(nodes: n)
            let took = expectEventually(sim, within: bound, "\(n) nodes see each other alive") {
                $0.everyoneSeesEveryoneAlive
            }
            figures.add(took)
            if let took, took <= gossipBound { byGossip += 1 }
            expect(!sim.observations.contains { $0.status != .alive }, sim,
                   "a node was suspected while the cluster formed: \(sim.observations.first { $0.status != .alive }!)")
        }
        return (figures, byGossip)
    }

    func testSixteenNodesStartedTogetherAllSeeEachOtherAliveWithinOneSecond() {
        let seeds = SimSeeds.list(default: 10)
        let result = join(16, seeds: seeds, bound: .seconds(1), gossipBound: .seconds(1))
        figure("16 nodes started together: everyone sees everyone alive after \(result.figures.description)")
    }

    /// Gossip alone leaves a tail (a rumour retires after 4 * ceil(log10 N)
    /// sends per node before one node heard it); the join-sync window's
    /// push-pull every 500 ms closes it within a few rounds.
    func testSixtyFourNodesStartedTogetherAllSeeEachOtherAliveWithinTwoSeconds() {
        let seeds = SimSeeds.list(default: 5)
        let result = join(64, seeds: seeds, bound: .seconds(2), gossipBound: .seconds(2))
        figure("64 nodes started together: everyone sees everyone alive after \(result.figures.description)")
    }

    /// About 80 s of CPU in a debug build: the longest test of the default suite.
    func testFiveHundredNodesStartedTogetherConvergeWithinTheJoinSyncWindow() {
        let seeds = SimSeeds.list(default: 1)
        let result = join(500, seeds: seeds, bound: .seconds(5), gossipBound: .seconds(5))
        figure("500 nodes started together: everyone sees everyone alive after \(result.figures.description)")
    }
}
