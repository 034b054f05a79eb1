import XCTest
import KithCore
import KithSim

/// The scenario `kith-sim-bench` times at 10,000 nodes, checked small: every
/// phase must finish within its bound, or the curve would time bounds, not work.
final class ScaleScenarioTests: XCTestCase {
    func testEveryPhaseFinishesAndTheClusterEndsWholeWithoutTheVictim() {
        for seed in SimSeeds.list(default: 2) {
            let figures = ScaleBench.run(nodes: 20, seed: seed)
            XCTAssertEqual(figures.map(\.phase), ScaleScenario.Phase.allCases)
            for figure in figures {
                XCTAssertNotNil(figure.took, "seed \(seed): \(figure.phase) not done within \(ScaleScenario.bound(of: figure.phase))")
                XCTAssertGreaterThan(figure.events, 0, "seed \(seed): \(figure.phase) ran no events")
                XCTAssertGreaterThan(figure.microsecondsPerNodeSecond, 0)
            }
        }
    }

    func testThePartitionCutsOffOnePercentButAtLeastTwoNodesBesideTheVictim() {
        XCTAssertEqual(ScaleScenario(nodes: 20, seed: 1).minority, ["n18", "n19"])
        let large = ScaleScenario(nodes: 1000, seed: 1)
        XCTAssertEqual(large.minority.count, 10)
        XCTAssertEqual(large.victim, "n1000")
        XCTAssertFalse(large.minority.contains(large.victim))
    }
}
