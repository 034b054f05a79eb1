import XCTest
import KithCore
@testable import KithSim

/// Every simulated message goes through `WireCodec`: a frame the decoder
/// rejects fails the run with its replay line; free text that used to make
/// frames every decoder rejects is clipped where it enters.
final class CodecRoundTripTests: XCTestCase {
    func testAFrameTheDecoderRejectsFailsTheRunWithItsReplayLine() {
        let sim = formedCluster(3, seed: 11)
        sim.testName = filterPattern
        var failures: [SimulationReport] = []
        sim.onCodecFailure = { failures.append($0) }
        var frame = WireCodec.encode(.nack(seq: 1, from: sim.id("n1")))
        frame[0] = 0xEE  // a version no decoder knows
        sim.queue.push(.deliver(from: 0, fromBoot: sim.nodes[0].boot, to: 1, frame: frame, sent: nil), at: sim.now)
        sim.run(for: .milliseconds(10))
        XCTAssertEqual(failures.count, 1)
        XCTAssertEqual(sim.codecFailures, 1)
        XCTAssertEqual(failures.first?.replay, "replay: KITH_SIM_SEED=11 swift test --filter \(filterPattern)")
        XCTAssertTrue(failures.first?.headline.contains("rejected by the decoder") == true, "\(failures)")
        XCTAssertTrue(sim.anomalies.contains { $0.contains("n1 -> n2") })
    }

    func testEveryFrameOfAnAgentRunRoundTripsAndCountsItsBytes() {
        let asim = AgentSimulation(seed: 12, checkpointInterval: .milliseconds(200))
        asim.messageInterval = .milliseconds(100)
        let sim = asim.sim
        sim.startCluster(nodes: 4)
        expectEventually(sim, within: .seconds(5), "the cluster forms") { $0.everyoneSeesEveryoneAlive }
        for (k, node) in sim.nodeNames.enumerated() {
            XCTAssertNoThrow(try asim.start(AgentSpec(name: "a\(k)", command: "/bin/agent", protects: ["a\((k + 1) % 4)"],
                                                      policy: .relaunch), on: node, via: node))
        }
        sim.run(for: .seconds(3))
        XCTAssertEqual(sim.codecFailures, 0)
        XCTAssertGreaterThan(sim.stats.sent(.other), 100, "agent traffic: records, checkpoints, messages")
        XCTAssertGreaterThan(sim.stats.bytes, 0)
        XCTAssertGreaterThan(asim.messages.delivered, 0, "messages reached the agents they were sent to")
        XCTAssertTrue(asim.violations.isEmpty, "\(asim.violations)")
    }

    /// The issue's reproduction: a kill-switch reason of 300 bytes, or 64 KiB,
    /// used to make every node reject every full-registry sync frame, forever.
    func testAKillSwitchWithAHugeReasonConvergesEverywhereWithTheReasonClipped() {
        for (seed, size) in [(UInt64(13), 300), (14, 64 << 10)] {
            let asim = AgentSimulation(seed: seed)
            let sim = asim.sim
            sim.testName = filterPattern
            sim.startCluster(nodes: 3)
            expectEventually(sim, within: .seconds(5), "the cluster forms") { $0.everyoneSeesEveryoneAlive }
            XCTAssertNoThrow(try asim.start(AgentSpec(name: "n1-a1", command: "/bin/agent"), on: "n1", via: "n1"))
            sim.run(for: .milliseconds(200))
            let command = OperatorCommand.parse("kill_switch", ["agents": ["n1-a1"], "epoch": 1,
                                                                "reason": .string(String(repeating: "x", count: size))]) { _ in
                .failure(AgentError("unused"))
            }
            XCTAssertEqual(asim.command(command, on: "n1")["ok"], true)
            let settled = sim.run(until: { _ in asim.isSettled }, timeout: .seconds(10), resolution: .milliseconds(10))
            sim.run(for: .seconds(5))  // several anti-entropy rounds of whole registries
            XCTAssertNotNil(settled, "\(asim.report("not settled after the kill-switch", test: filterPattern))")
            XCTAssertEqual(sim.codecFailures, 0, "every node accepts every frame")
            for node in sim.nodeNames {
                let tombstone = asim.registry(node)?.tombstones["n1-a1"]
                XCTAssertEqual(tombstone?.active, true, "\(node) fences n1-a1")
                XCTAssertEqual(tombstone?.reason.utf8.count, OperatorCommand.reasonBytesMax, "\(node): the reason is clipped")
                XCTAssertEqual(asim.records(seenBy: node)["n1-a1"]?.state, .killed)
            }
            XCTAssertTrue(asim.copies(of: "n1-a1").isEmpty)
        }
    }
}
