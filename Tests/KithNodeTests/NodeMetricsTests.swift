import KithCore
import KithMetrics
import XCTest
@testable import KithNode

/// What `/metrics` counts, from inputs and directives as the interpreter passes them.
final class NodeMetricsTests: XCTestCase {
    private func at(_ seconds: Double) -> Instant { Instant(nanoseconds: UInt64(seconds * 1e9)) }

    private func record(_ name: String, _ fields: [String: JSON]) -> NodeDirective {
        .record(NodeEvent(.info, name, fields))
    }

    private func memberChanged(_ member: String, to state: String) -> NodeDirective {
        record("member_changed", ["member": .string(member), "state": .string(state)])
    }

    private func agentChanged(_ agent: String, generation: Int64, to state: String) -> NodeDirective {
        record("agent_changed", ["agent": .string(agent), "generation": .int(generation), "state": .string(state)])
    }

    private func ack(from name: String) -> NodeInput {
        .receive(.ack(seq: 1, from: NodeID(name: name, uid: 7), gossip: []))
    }

    func testDetectionLatencyRunsFromTheLastFrameHeardToDead() {
        var metrics = NodeMetrics()
        metrics.observe(ack(from: "b"), [], now: at(1))
        metrics.observe(ack(from: "b"), [], now: at(2))
        metrics.observe(.tick, [memberChanged("b", to: "suspect")], now: at(3))
        metrics.observe(.tick, [memberChanged("b", to: "dead")], now: at(6.5))
        XCTAssertEqual(metrics.suspicions, 1)
        XCTAssertEqual(metrics.detectionLatency.count, 1)
        XCTAssertEqual(metrics.detectionLatency.sum, 4.5, accuracy: 1e-9)
        // Dead again without a frame in between: nothing to measure from, so nothing is observed.
        metrics.observe(.tick, [memberChanged("b", to: "dead")], now: at(9))
        XCTAssertEqual(metrics.detectionLatency.count, 1)
    }

    func testAMemberNeverHeardFromOrThatLeftAddsNoDetectionSample() {
        var metrics = NodeMetrics()
        metrics.observe(.tick, [memberChanged("ghost", to: "dead")], now: at(5))
        metrics.observe(ack(from: "c"), [], now: at(1))
        metrics.observe(.tick, [memberChanged("c", to: "left")], now: at(2))
        metrics.observe(.tick, [memberChanged("c", to: "dead")], now: at(3))
        XCTAssertEqual(metrics.detectionLatency.count, 0)
    }

    func testARelaunchIsCountedOnceAndTimedFromLostToRunning() {
        var metrics = NodeMetrics()
        metrics.observe(.tick, [agentChanged("w", generation: 1, to: "running")], now: at(0))
        metrics.observe(.tick, [agentChanged("w", generation: 1, to: "lost")], now: at(10))
        metrics.observe(.tick, [agentChanged("w", generation: 2, to: "starting")], now: at(11))
        XCTAssertEqual(metrics.relaunches, 1)
        XCTAssertEqual(metrics.relaunchLatency.count, 0, "the clock stops at running, not starting")
        metrics.observe(.tick, [agentChanged("w", generation: 2, to: "running")], now: at(12.25))
        metrics.observe(.tick, [agentChanged("w", generation: 2, to: "running")], now: at(13))
        XCTAssertEqual(metrics.relaunches, 1)
        XCTAssertEqual(metrics.relaunchLatency.count, 1)
        XCTAssertEqual(metrics.relaunchLatency.sum, 2.25, accuracy: 1e-9)
    }

    func testAnAgentThatComesBackInItsOwnGenerationOrIsStoppedIsNoRelaunch() {
        var metrics = NodeMetrics()
        metrics.observe(.tick, [agentChanged("w", generation: 3, to: "lost")], now: at(1))
        metrics.observe(.tick, [agentChanged("w", generation: 3, to: "running")], now: at(2))  // its host refuted
        metrics.observe(.tick, [agentChanged("v", generation: 1, to: "relaunching")], now: at(1))
        metrics.observe(.tick, [agentChanged("v", generation: 1, to: "failed")], now: at(2))
        metrics.observe(.tick, [agentChanged("v", generation: 2, to: "running")], now: at(3))  // an operator start
        XCTAssertEqual(metrics.relaunches, 0)
        XCTAssertEqual(metrics.relaunchLatency.count, 0)
    }

    func testRestartsAreSecondSpawnsOfOneGeneration() {
        var metrics = NodeMetrics()
        func spawn(_ generation: UInt64) -> NodeDirective {
            .spawn(AgentRecord(spec: AgentSpec(name: "w", command: "/bin/true"), generation: generation, host: "a",
                               hostUID: 1, state: .starting, updatedBy: "a"), checkpoint: nil)
        }
        metrics.observe(.tick, [spawn(1)], now: at(0))
        metrics.observe(.tick, [spawn(1)], now: at(1))
        metrics.observe(.tick, [spawn(1)], now: at(2))
        metrics.observe(.tick, [spawn(2)], now: at(3))
        XCTAssertEqual(metrics.restarts, 2)
    }

    func testEventCountersAndProbes() {
        var metrics = NodeMetrics()
        let ping = Message.ping(seq: 1, from: NodeID(name: "a", uid: 1), replyTo: "127.0.0.1:1",
                                target: NodeID(name: "b", uid: 2), gossip: [])
        let pingReq = Message.pingReq(seq: 2, from: NodeID(name: "a", uid: 1), replyTo: "127.0.0.1:1",
                                      target: NodeID(name: "b", uid: 2), targetEndpoint: "127.0.0.1:2", gossip: [])
        metrics.observe(.tick, [
            .send(ping, to: "127.0.0.1:2"), .send(pingReq, to: "127.0.0.1:3"), .send(pingReq, to: "127.0.0.1:4"),
            record("refuted_suspicion", [:]), record("masking_incident", [:]), record("masking_incident", [:]),
            record("resistance_attempt", [:]), record("kill_switch", [:]), record("agent_report", [:]),
            record("shield_attempt", [:]),
        ], now: at(1))
        XCTAssertEqual(metrics.pingsSent, 1)
        XCTAssertEqual(metrics.pingRequestsSent, 2)
        XCTAssertEqual(metrics.refutations, 1)
        XCTAssertEqual(metrics.maskingIncidents, 2)
        XCTAssertEqual(metrics.resistanceAttempts, 1)
        XCTAssertEqual(metrics.shieldAttempts, 1)
        XCTAssertEqual(metrics.killSwitchFences, 1)
    }

    func testTablesForgetTheOldestNamesBeyondTheirBound() {
        var table = BoundedTable<Int>()
        for index in 0...NodeMetrics.trackedNamesMax { table["m\(index)"] = index }
        XCTAssertNil(table["m0"], "the oldest name is forgotten")
        XCTAssertEqual(table["m1"], 1)
        XCTAssertEqual(table["m\(NodeMetrics.trackedNamesMax)"], NodeMetrics.trackedNamesMax)
        table["m1"] = nil
        XCTAssertNil(table["m1"])
    }
}
