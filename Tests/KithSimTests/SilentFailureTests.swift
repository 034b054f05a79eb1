import XCTest
import KithCore
import KithSim

/// Issue 16 item 4: a silent failure is found by the first survivor in
/// about 0.3 s of probing plus the shortest suspicion, and its verdict,
/// sent to every member at once, reaches the last survivor a hop later.
final class SilentFailureTests: XCTestCase {
    func testTheLastSurvivorSeesAPausedNodeDeadWithinAFewMillisecondsOfTheFirst() {
        var first = Figures(), last = Figures()
        for seed in SimSeeds.list(default: 4, base: 40) {
            let run = DetectionBench.detection(seed: seed)
            guard let firstDead = run.firstDead, let lastDead = run.lastDead else {
                XCTFail("seed \(seed): not every survivor saw the paused node dead within 10 s")
                continue
            }
            // 0.5 ms per hop on the simulated LAN; gossip alone took about 0.35 s here.
            XCTAssertLessThanOrEqual(lastDead - firstDead, .milliseconds(20), "seed \(seed)")
            // 0.2 s probe period: suspected within 2 periods of probing at worst here, then 0.91 s.
            XCTAssertLessThanOrEqual(lastDead, .seconds(2), "seed \(seed)")
            first.add(firstDead)
            last.add(lastDead)
        }
        figure("32 nodes, pause: first survivor \(first.description); last survivor \(last.description)")
    }

    /// The LossTests property through the bench's own path (no per-input
    /// invariant checks), so `kith-detect-bench loss` counts what the test would.
    func testTheLossBenchFindsNoFalseDeadOnAFewSeeds() {
        for seed in SimSeeds.list(default: 2, base: 27) {
            let run = DetectionBench.loss(seed: seed, duration: .seconds(20))
            XCTAssertTrue(run.formed, "seed \(seed)")
            XCTAssertEqual(run.deaths, [], "seed \(seed): \(run.story.joined(separator: "\n"))")
            XCTAssertGreaterThan(run.suspicions, 0, "seed \(seed): 5% loss makes suspicions")
        }
    }
}
