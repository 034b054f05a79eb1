import XCTest
import KithCore
import KithSim

/// Property 7: a node that leaves gracefully is seen as left, never dead.
final class LeaveTests: XCTestCase {
    func testANodeThatLeavesIsSeenAsLeftByEveryoneAndNeverAsDead() {
        var seen = Figures()
        for seed in SimSeeds.list(default: 6) {
            let sim = formedCluster(16, seed: seed)
            let leftAt = sim.now
            sim.leave("n4")
            seen.add(expectEventually(sim, within: .seconds(1), "everyone sees n4 left") {
                $0.everyone(sees: "n4", as: .left)
            })
            sim.run(for: .seconds(10))
            expect(sim.everyone(sees: "n4", as: .left), sim, "n4 is no longer left everywhere")
            let bad = sim.observations(of: "n4").filter { $0.time >= leftAt && ($0.status == .dead || $0.status == .suspect) }
            expect(bad.isEmpty, sim, "n4 was suspected or declared dead after leaving: \(bad.prefix(3))")
            expect(sim.isConverged, sim, "the others disagree after n4 left")
        }
        figure("16 nodes, n4 leaves: everyone sees it left after \(seen.description)")
    }

    /// A node that left can come back under the same name: the new boot is
    /// alive everywhere, the old one stays left.
    func testANodeThatLeftCanRejoinUnderItsName() {
        for seed in SimSeeds.list(default: 3, base: 40) {
            let sim = formedCluster(8, seed: seed)
            sim.leave("n6")
            expectEventually(sim, within: .seconds(1), "everyone sees n6 left") { $0.everyone(sees: "n6", as: .left) }
            sim.run(for: .seconds(2))
            sim.restart("n6")
            expectEventually(sim, within: .seconds(2), "n6 back") { $0.everyoneSeesEveryoneAlive }
        }
    }
}
