import XCTest
@testable import KithCore

/// The config agents' start rule, agent reports kept apart, and checkpoint
/// answers that wait for replication.
final class NodeCoreAgentTests: XCTestCase {
    // MARK: Config agents

    func test_configAgents_onALoneNode_shouldStartAtTheDelay_notBefore() {
        var t = NT(configAgents: [NT.spec("c1")])
        t.input(.start)
        XCTAssertEqual(t.core.nextDeadline.map { $0 <= NT.t0 + .milliseconds(1500) }, true)
        t.advance(.milliseconds(1499))
        XCTAssertTrue(t.input(.tick).spawns.isEmpty)
        t.advance(.milliseconds(1))
        XCTAssertEqual(t.input(.tick).spawns.map(\.name), ["c1"])
        XCTAssertTrue(t.core.configAgentsStarted)
        t.advance(.seconds(5))
        XCTAssertTrue(t.input(.tick).spawns.isEmpty, "config agents start once")
    }

    func test_configAgents_withSeeds_shouldWaitUntilTheNodeHasJoined() {
        var t = NT(seeds: ["b:7946"], configAgents: [NT.spec("c1")])
        t.input(.start)
        t.advance(.seconds(3))
        XCTAssertTrue(t.input(.tick).spawns.isEmpty, "not joined: the cluster may run c1 already")
        XCTAssertFalse(t.core.configAgentsStarted)
        t.meetOthers()
        XCTAssertEqual(t.history.spawns.map(\.name), ["c1"])
    }

    func test_configAgents_alreadyRunningElsewhere_shouldNotBeDuplicated() {
        var t = NT(seeds: ["b:7946"], configAgents: [NT.spec("c1")])
        t.input(.start)
        t.meetOthers()  // joined, but before the delay
        let elsewhere = AT.signed(AgentRecord(spec: NT.spec("c1"), generation: 4, host: "b", hostUID: 1, state: .running,
                                              updatedBy: "b"))
        t.input(.receive(.agents(from: NodeID(name: "b", uid: 1), replyTo: "b:7946", wantsReply: false, records: [elsewhere])))
        t.advance(.seconds(2))
        t.input(.tick)
        XCTAssertTrue(t.core.configAgentsStarted)
        XCTAssertTrue(t.history.spawns.isEmpty)
        XCTAssertEqual(t.core.registry.records["c1"]?.host, "b")
    }

    // MARK: Reports

    func test_report_ofHealthForAnAgentThatDoesNotRun_shouldBeAMaskingIncident_keptApartFromTheRecord() {
        var t = NT()
        t.input(.start)
        t.startLocal(NT.spec("g1"))
        t.startLocal(NT.spec("p1"))
        t.command(.agentStop("p1"))
        let origin = AgentOrigin(agent: "g1", generation: 1, id: 1)
        let masking = t.input(.agentRequest(origin, op: "report", request: ["peer": "p1", "status": "healthy"]))
        XCTAssertEqual(masking.events.map(\.name), ["masking_incident"])
        XCTAssertEqual(masking.events.first?.fields, ["reporter": "g1", "peer": "p1", "reported": "healthy", "observed": "stopped"])
        XCTAssertEqual(masking.events.first?.level, .warn)
        XCTAssertEqual(masking.replies.map(\.1), [["ok": true]])
        XCTAssertEqual(t.core.reports["p1"], ["g1": "healthy"])
        XCTAssertEqual(t.core.registry.records["p1"]?.state, .stopped, "a claim changes no record")
        XCTAssertEqual(t.core.agentJSON(t.core.registry.records["p1"]!)["reported"], ["g1": "healthy"])
        t.input(.agentConnected("g1", generation: 1))
        let honest = t.input(.agentRequest(origin, op: "report", request: ["peer": "g1", "status": "healthy"]))
        XCTAssertEqual(honest.events.map(\.name), ["agent_report"])
        let long = t.input(.agentRequest(origin, op: "report", request: ["peer": "g1", "status": .string(String(repeating: "x", count: 5000))]))
        XCTAssertEqual(long.events.first?.fields["reported"]?.stringValue?.utf8.count, NodeCore.reportStatusBytesMax)
    }

    func test_agentRequest_malformed_shouldBeAnsweredWithTheReason() {
        var t = NT()
        t.input(.start)
        let origin = AgentOrigin(agent: "g1", generation: 1, id: "x")
        XCTAssertEqual(t.input(.agentRequest(origin, op: "report", request: [:])).replies.map(\.1),
                       [["ok": false, "error": "report needs \"peer\" and \"status\""]])
        XCTAssertEqual(t.input(.agentRequest(origin, op: "nope", request: [:])).replies.map(\.1),
                       [["ok": false, "error": "unknown op 'nope'"]])
        XCTAssertEqual(t.input(.agentRequest(origin, op: "send", request: ["to": "b1", "payload": .string(String(repeating: "x", count: WireCodec.maxAgentPayloadBytes))])).replies.map(\.1),
                       [["ok": false, "error": .string("payload larger than \(WireCodec.maxAgentPayloadBytes) bytes")]])
    }

    // MARK: Checkpoints

    func test_checkpoint_shouldBeAnsweredOnlyOnceTwoOthersHoldIt() {
        var t = NT()
        t.input(.start)
        t.meetOthers()
        t.startLocal(NT.spec("a1"))
        t.input(.agentConnected("a1", generation: 1))
        let origin = AgentOrigin(agent: "a1", generation: 1, id: 42)
        let out = t.input(.agentRequest(origin, op: "checkpoint", request: ["data": ["n": 1]]))
        XCTAssertTrue(out.replies.isEmpty, "no answer before replication")
        XCTAssertEqual(Set(out.sends.map(\.1)), ["b:7946", "c:7946"])
        let first = t.input(.receive(.checkpointAck(from: NodeID(name: "b", uid: 1), agent: "a1", generation: 1, seq: 1)))
        XCTAssertTrue(first.replies.isEmpty)
        let second = t.input(.receive(.checkpointAck(from: NodeID(name: "c", uid: 1), agent: "a1", generation: 1, seq: 1)))
        XCTAssertEqual(second.replies.first?.0, origin)
        XCTAssertEqual(second.replies.first?.1, ["ok": true, "seq": 1, "replicas": 2])
    }

    func test_checkpoint_withFewerThanTwoOthers_shouldBeRefusedAtOnce() {
        var t = NT()
        t.input(.start)
        t.startLocal(NT.spec("a1"))
        let out = t.input(.agentRequest(AgentOrigin(agent: "a1", generation: 1, id: 1), op: "checkpoint", request: ["data": 1]))
        XCTAssertEqual(out.replies.first?.1["ok"], false)
        XCTAssertEqual(out.replies.first?.1["error"]?.stringValue?.hasPrefix("checkpoint 1 kept but not acknowledged"), true)
    }

    func test_checkpointAnswers_waitingAtOnce_shouldStayBounded() {
        var t = NT()
        t.input(.start)
        t.meetOthers()
        t.startLocal(NT.spec("a1"))
        for k in 0..<100 {
            t.input(.agentRequest(AgentOrigin(agent: "a1", generation: 1, id: .int(Int64(k))), op: "checkpoint",
                                  request: ["data": .int(Int64(k))]))
        }
        XCTAssertEqual(t.core.pendingCheckpointReplies["a1"]?.count, Int(AgentRegistry.pendingCheckpointsMax))
        XCTAssertEqual(t.core.pendingCheckpointReplies["a1"]?.keys.min(), 100 - AgentRegistry.pendingCheckpointsMax + 1)
    }
}
