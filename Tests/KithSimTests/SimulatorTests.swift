import XCTest
import KithCore
@testable import KithSim

/// The simulator itself: event order, the network's treatment of crashed,
/// powered-off and paused nodes, partitions and drop rules, boots, reports.
final class SimulatorTests: XCTestCase {
    func testEventsAtTheSameInstantRunInTheOrderTheyWereScheduled() {
        var queue = EventQueue()
        let t = Instant(nanoseconds: 5)
        for i in 0..<100 { queue.push(.tick(node: i, boot: 0, generation: 0), at: i % 2 == 0 ? t : t + .nanoseconds(1)) }
        var order: [Int] = []
        var times: [Instant] = []
        while let (time, event) = queue.pop() {
            guard case let .tick(node, _, _) = event else { return XCTFail("unexpected \(event)") }
            order.append(node)
            times.append(time)
        }
        XCTAssertEqual(order, Array(stride(from: 0, to: 100, by: 2)) + Array(stride(from: 1, to: 100, by: 2)))
        XCTAssertEqual(times, times.sorted())
    }

    func testTheHeapPopsALargeRandomScheduleInTimeThenSchedulingOrder() {
        var queue = EventQueue()
        var rng = SeededRandom(seed: 9)
        var expected: [(UInt64, Int)] = []
        for i in 0..<5000 {
            let time = rng.next() % 1000
            queue.push(.tick(node: i, boot: 0, generation: 0), at: Instant(nanoseconds: time))
            expected.append((time, i))
        }
        expected.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        var popped: [(UInt64, Int)] = []
        while let (time, event) = queue.pop() {
            if case let .tick(node, _, _) = event { popped.append((time.nanoseconds, node)) }
        }
        XCTAssertTrue(popped.elementsEqual(expected, by: { $0 == $1 }))
    }

    func testAMessageToACrashedProcessIsRefusedAndTheSenderBuriesItWithinHalfASecond() {
        let sim = formedCluster(4, seed: 1)
        let crashedAt = sim.now
        sim.crash("n4")
        expectEventually(sim, within: .milliseconds(700), "n4 dead everywhere") { $0.everyone(sees: "n4", as: .dead) }
        XCTAssertGreaterThan(sim.stats.refused, 0)
        XCTAssertEqual(sim.stats.hostDown, 0)
        let first = sim.spread(of: "n4", as: .dead, since: crashedAt)?.first
        XCTAssertNotNil(first)
        XCTAssertLessThan(first ?? .seconds(9), .milliseconds(500 + 300))
    }

    func testAPoweredOffHostDropsMessagesSilently() {
        let sim = formedCluster(4, seed: 2)
        sim.powerOff("n4")
        expectEventually(sim, within: .seconds(10), "n4 dead everywhere") { $0.everyone(sees: "n4", as: .dead) }
        XCTAssertEqual(sim.stats.refused, 0)
        XCTAssertGreaterThan(sim.stats.hostDown, 0)
    }

    func testAPausedNodeHandlesItsBufferedMessagesWhenItResumesAndDropsWhatOverflows() {
        let sim = formedCluster(6, seed: 3, network: NetworkConditions(pausedBufferLimit: 3))
        sim.pause("n2")
        XCTAssertEqual(sim.process("n2"), .paused)
        sim.run(for: .seconds(1))
        XCTAssertEqual(sim.stats.held, 3)
        XCTAssertGreaterThan(sim.stats.overflowed, 0)
        let delivered = sim.stats.delivered
        sim.resume("n2")
        sim.run(for: .milliseconds(1))
        XCTAssertGreaterThanOrEqual(sim.stats.delivered - delivered, 3)
        expectEventually(sim, within: .seconds(10), "n2 back") { $0.everyoneSeesEveryoneAlive }
    }

    func testAPartitionBlocksOnlyMessagesBetweenItsGroups() {
        let sim = formedCluster(6, seed: 4)
        sim.partition([["n1", "n2", "n3"]])
        expectEventually(sim, within: .seconds(15), "the sides bury each other") { sim in
            ["n1", "n2", "n3"].allSatisfy { a in ["n4", "n5", "n6"].allSatisfy { b in
                sim.status(of: b, seenBy: a) == .dead && sim.status(of: a, seenBy: b) == .dead } }
        }
        XCTAssertEqual(sim.status(of: "n2", seenBy: "n1"), .alive)
        XCTAssertEqual(sim.status(of: "n6", seenBy: "n5"), .alive)
        XCTAssertGreaterThan(sim.stats.blocked, 0)
        sim.heal()
        expectEventually(sim, within: .seconds(10), "one cluster again") { $0.everyoneSeesEveryoneAlive }
    }

    func testADropRuleStopsOnlyTheMessagesItMatches() {
        let sim = formedCluster(4, seed: 5)
        sim.run(for: .seconds(6))  // past the join-sync window, when push-pulls are rare again
        let blocked = sim.stats.blocked
        let acks = sim.stats.sent(.ack)
        sim.drop(DropRule(from: "n3", kinds: [.pushPull]))
        sim.run(for: .seconds(2))
        XCTAssertEqual(sim.stats.blocked, blocked, "n3 sent no push-pull in 2 s, so nothing matched")
        XCTAssertGreaterThan(sim.stats.sent(.ack), acks)
        sim.cut(from: "n1", to: "n2")
        sim.run(for: .seconds(2))
        XCTAssertGreaterThan(sim.stats.blocked, blocked)
        XCTAssertTrue(sim.faults.contains { $0.action == "drop all n1->n2" })
    }

    func testEveryBootOfANameDrawsALargerUid() {
        let sim = formedCluster(3, seed: 6)
        var uids = [sim.id("n2").uid]
        for _ in 0..<5 {
            sim.crash("n2")
            sim.run(for: .milliseconds(300))
            uids.append(sim.restart("n2").uid)
        }
        XCTAssertEqual(uids, uids.sorted())
        XCTAssertEqual(Set(uids).count, uids.count)
        XCTAssertEqual(sim.membership("n2")?.me, sim.id("n2"))
    }

    func testTheMirroredViewsMatchEveryNodesTableAfterRandomFaults() {
        for seed in SimSeeds.list(default: 3, base: 70) {
            let sim = Simulation(seed: seed, network: .lossy(0.02))
            sim.startCluster(nodes: 8)
            sim.run(Chaos.schedule(seed: seed, nodes: sim.nodeNames, duration: .seconds(15), meanGap: .milliseconds(600)))
            expect(sim.mirrorMismatches().isEmpty, sim, "mirror out of step: \(sim.mirrorMismatches().prefix(5))")
            sim.heal()
            sim.resumeAll()
            sim.run(for: .seconds(20))
            expect(sim.mirrorMismatches().isEmpty, sim, "mirror out of step: \(sim.mirrorMismatches().prefix(5))")
            for name in sim.upNodes {
                let fromCore = Dictionary(uniqueKeysWithValues: sim.membership(name)!.members.map { ($0.id.name, $0.status) })
                XCTAssertEqual(sim.view(of: name), fromCore)
            }
        }
    }

    func testRunUntilStopsWhenTheConditionHoldsAndLeavesTheClockThere() {
        let sim = Simulation(seed: 7)
        sim.startCluster(nodes: 8)
        let took = sim.run(until: { $0.everyoneSeesEveryoneAlive }, timeout: .seconds(5))
        XCTAssertNotNil(took)
        XCTAssertEqual(sim.now, Instant.zero + (took ?? .zero))
        XCTAssertNil(sim.run(until: { _ in false }, timeout: .seconds(2)))
        XCTAssertEqual(sim.now, Instant.zero + (took ?? .zero) + .seconds(2))
    }

    func testAFailureReportCarriesTheSeedAndAReplayLine() {
        let sim = Simulation(seed: 4242)
        sim.startCluster(nodes: 3)
        sim.crash("n3")
        let report = sim.report("example", test: "KithSimTests.SimulatorTests/testX")
        XCTAssertEqual(report.replay, "replay: KITH_SIM_SEED=4242 swift test --filter KithSimTests.SimulatorTests/testX")
        XCTAssertTrue(report.description.contains("seed 4242"))
        XCTAssertTrue(report.description.contains("crash n3"))
        XCTAssertEqual(filterPattern, "KithSimTests.SimulatorTests/testAFailureReportCarriesTheSeedAndAReplayLine")
    }

    func testDurationsPrintAsSecondsOrMilliseconds() {
        XCTAssertEqual(Simulation.format(.milliseconds(1234)), "1.234 s")
        XCTAssertEqual(Simulation.format(.microseconds(512)), "0.512 ms")
        XCTAssertEqual(Simulation.format(Duration.zero), "0.000 ms")
        XCTAssertEqual(Simulation.format(.seconds(15)), "15.000 s")
    }
}
