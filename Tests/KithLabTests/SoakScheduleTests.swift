import KithReport
import XCTest
@testable import KithLab

/// The soak's random faults: the same seed gives the same steps, and every fault is undone before the quiet tail.
final class SoakScheduleTests: XCTestCase {
    private let nodes = ["n1", "n2", "n3", "n4", "n5"]
    private let agents = ["n1-a1", "n2-a1", "n3-a1", "n4-a1", "n5-a1"]

    private func schedule(seed: UInt64, durationMs: Int = 600_000) -> SoakSchedule {
        SoakSchedule(seed: seed, nodes: nodes, agents: agents, durationMs: durationMs)
    }

    func test_sameSeed_sameSteps_otherSeed_otherSteps() {
        XCTAssertEqual(schedule(seed: 7).steps.map(\.description), schedule(seed: 7).steps.map(\.description))
        XCTAssertNotEqual(schedule(seed: 7).steps.map(\.description), schedule(seed: 8).steps.map(\.description))
    }

    func test_everyKindOfFaultIsDrawn_andTheCountIsAboutOneEveryThreeSeconds() {
        let schedule = schedule(seed: 1)
        let actions = Set(schedule.steps.map(\.action))
        for action in [TimelineAction.killNode, .shutdownNode, .startNode, .pauseNode, .partition, .loss, .delay, .killAgent,
                       .killSwitch, .revive] {
            XCTAssertTrue(actions.contains(action), "no \(action.rawValue) in 10 minutes")
        }
        XCTAssertTrue(schedule.steps.contains { $0.step.oneway })
        // 580 s of faults at a mean gap of 3 s (some draws are skipped when nothing fits).
        XCTAssertTrue((120...220).contains(schedule.faults), "\(schedule.faults) faults")
    }

    func test_faultsAreUndone_beforeTheTail_andAMajorityIsAlwaysUp() {
        for seed in UInt64(1)...50 {
            let schedule = schedule(seed: seed, durationMs: 120_000)
            var down: Set<String> = []
            var pausedUntil: [String: Int] = [:]
            var switchedOff: Set<String> = []
            for step in schedule.steps {
                let at = step.step.atMs
                XCTAssertLessThanOrEqual(at, 100_000, "seed \(seed): \(step.description) in the tail")
                XCTAssertEqual(step.index, schedule.steps.firstIndex { $0.index == step.index })
                switch step.action {
                case .killNode, .shutdownNode: XCTAssertTrue(down.insert(step.target!).inserted, "seed \(seed): \(step.description)")
                case .startNode: XCTAssertNotNil(down.remove(step.target!), "seed \(seed): \(step.description)")
                case .pauseNode: pausedUntil[step.target!] = at + step.step.forMs!
                case .killSwitch: XCTAssertTrue(switchedOff.insert(step.targets[0]).inserted)
                case .revive: XCTAssertNotNil(switchedOff.remove(step.targets[0]))
                case .partition, .loss, .delay:
                    XCTAssertLessThanOrEqual(at + step.step.forMs!, 100_000)
                    XCTAssertTrue(step.groups.joined().allSatisfy { !down.contains($0) }, "seed \(seed): \(step.description) on a down node")
                default: break
                }
                let out = down.count + pausedUntil.filter { $0.value > at && !down.contains($0.key) }.count
                XCTAssertLessThanOrEqual(out, 2, "seed \(seed): more than a minority out at \(at) ms")
            }
            XCTAssertTrue(down.isEmpty, "seed \(seed): \(down) never started again")
            XCTAssertTrue(switchedOff.isEmpty, "seed \(seed): \(switchedOff) never revived")
        }
    }
}
