import XCTest
import KithCore
import KithSim

/// Property 5: after a partition heals, the two sides, which declared each
/// other dead, merge back into one cluster (the core push-pulls with one
/// dead member every second).
final class PartitionTests: XCTestCase {
    private func partitionAndHeal(_ n: Int, split: Int, seeds: [UInt64], detectBound: Duration,
                                  mergeBound: Duration) -> (detect: Figures, merge: Figures) {
        var detect = Figures(), merge = Figures()
        for seed in seeds {
            let sim = formedCluster(n, seed: seed)
            let names = sim.nodeNames
            let left = Array(names[..<split]), right = Array(names[split...])
            sim.partition([left, right])
            let took = expectEventually(sim, within: detectBound, "each side marks the other dead") { sim in
                left.allSatisfy { a in right.allSatisfy { b in
                    sim.status(of: b, seenBy: a) == .dead && sim.status(of: a, seenBy: b) == .dead
                } }
            }
            detect.add(took)
            // Neither side may lose one of its own.
            for side in [left, right] {
                for a in side { for b in side where a != b {
                    expect(sim.status(of: b, seenBy: a) == .alive, sim,
                           "\(a) sees \(b), on its own side, as \(sim.status(of: b, seenBy: a).map { "\($0)" } ?? "unknown")")
                } }
            }
            let mark = sim.observations.count
            sim.heal()
            merge.add(expectEventually(sim, within: mergeBound, "one cluster again after the heal") {
                $0.everyoneSeesEveryoneAlive
            })
            let falseDeaths = sim.observations[mark...].filter { $0.status == .dead }
            expect(falseDeaths.isEmpty, sim, "live nodes declared dead after the heal: \(falseDeaths.prefix(5))")
        }
        return (detect, merge)
    }

    func testTwoAndThreeNodesMarkEachOtherDeadAndMergeAfterTheHeal() {
        let seeds = SimSeeds.list(default: 6)
        let r = partitionAndHeal(5, split: 2, seeds: seeds, detectBound: .seconds(10), mergeBound: .seconds(5))
        figure("2|3 partition: sides see each other dead after \(r.detect.description)")
        figure("2|3 partition: one cluster again \(r.merge.description) after the heal")
    }

    func testFiveAndElevenNodesMarkEachOtherDeadAndMergeAfterTheHeal() {
        let seeds = SimSeeds.list(default: 4, base: 20)
        let r = partitionAndHeal(16, split: 5, seeds: seeds, detectBound: .seconds(15), mergeBound: .seconds(8))
        figure("5|11 partition: sides see each other dead after \(r.detect.description)")
        figure("5|11 partition: one cluster again \(r.merge.description) after the heal")
    }
}
