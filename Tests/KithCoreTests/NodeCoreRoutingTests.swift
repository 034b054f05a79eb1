import XCTest
@testable import KithCore

/// The router's hold and expiry rules inside `NodeCore`, on a fake clock.
final class NodeCoreRoutingTests: XCTestCase {
    private func message(_ text: String = "hi", to: String = "b1") -> AgentMessage {
        AgentMessage(from: "operator", to: to, payload: Array(JSON.string(text).serialized().utf8))
    }

    /// A lone node running b1 (spawned, never connected).
    private func node() -> NT {
        var t = NT()
        t.input(.start)
        t.startLocal(NT.spec("b1"))
        return t
    }

    func test_send_toALocalAgent_shouldDeliver_andAnUnreachableOneIsHeldAndAnswered() {
        var t = node()
        let out = t.command(.send(to: "b1", text: "hi"))
        XCTAssertEqual(out.last, .deliver(message(), origin: .operatorCommand))
        XCTAssertTrue(out.answers.isEmpty, "the answer waits for the shell's delivery")
        let held = t.input(.agentUnreachable(message(), origin: .operatorCommand))
        XCTAssertEqual(held.answers, [["ok": true]])
        XCTAssertEqual(t.core.router.held["b1"]?.count, 1)
        XCTAssertEqual(t.core.nextDeadline.map { $0 <= NT.t0 + AgentRouter.holdDuration } , true)
    }

    func test_tick_beforeTheHoldDuration_shouldKeep_andAtItShouldFailTheSender() {
        var t = node()
        t.input(.agentUnreachable(message(), origin: .operatorCommand))
        t.advance(AgentRouter.holdDuration - .milliseconds(1))
        XCTAssertTrue(t.input(.tick).pushes.isEmpty)
        XCTAssertEqual(t.core.router.held["b1"]?.count, 1)
        t.advance(.milliseconds(1))
        let pushes = t.input(.tick).pushes
        XCTAssertEqual(pushes.count, 1)
        XCTAssertEqual(pushes.first?.1, "operator")
        XCTAssertEqual(pushes.first?.0["event"], "send_failed")
        XCTAssertEqual(pushes.first?.0["error"]?.stringValue, "agent b1 was not reachable within 10s")
        XCTAssertNil(t.core.router.held["b1"])
        XCTAssertEqual(t.core.router.dropped, 1)
        XCTAssertEqual(t.core.router.heldBytes, 0)
    }

    func test_nextDeadline_withAHeldMessage_shouldBeItsExpiry() {
        var t = node()
        t.advance(.seconds(30))  // past every startup deadline of a lone node's first rounds
        t.input(.tick)
        let heldAt = t.now
        t.input(.agentUnreachable(message(), origin: .network))
        XCTAssertNotNil(t.core.nextDeadline)
        XCTAssertLessThanOrEqual(t.core.nextDeadline!, heldAt + AgentRouter.holdDuration)
        XCTAssertEqual(t.core.router.nextExpiry, heldAt + AgentRouter.holdDuration)
    }

    func test_agentConnected_shouldRouteWhatWaited_andTellTheSenderOnce() {
        var t = node()
        t.startLocal(NT.spec("s1"))
        t.input(.agentUnreachable(AgentMessage(from: "s1", to: "b1", payload: Array("1".utf8)), origin: .network))
        t.input(.agentUnreachable(AgentMessage(from: "s1", to: "b1", payload: Array("2".utf8)), origin: .network))
        let out = t.input(.agentConnected("b1", generation: 1))
        let deliveries = out.compactMap { if case let .deliver(m, origin) = $0 { (m, origin) } else { nil } }
        XCTAssertEqual(deliveries.map(\.0.payload), [Array("1".utf8), Array("2".utf8)], "oldest first")
        XCTAssertTrue(deliveries.allSatisfy { $0.1 == .held })
        XCTAssertEqual(out.pushes.filter { $0.0["event"] == "peer_relaunched" }.map(\.1), ["s1"])
        XCTAssertTrue(t.core.router.held.isEmpty)
    }

    func test_hold_whenTheAgentsQueueIsFull_shouldRefuseAndCount() {
        var t = node()
        for _ in 0..<AgentRouter.heldPerAgentMax {
            t.input(.agentUnreachable(message(), origin: .network))
        }
        let out = t.input(.agentUnreachable(message(), origin: .operatorCommand))
        XCTAssertEqual(out.answers, [["ok": false, "error": "buffer for b1 is full while it is being relaunched"]])
        XCTAssertEqual(t.core.router.held["b1"]?.count, AgentRouter.heldPerAgentMax)
        XCTAssertEqual(t.core.router.dropped, 1)
    }

    func test_send_toAnUnknownOrStoppedAgent_shouldBeRefusedByTheCore() {
        var t = node()
        XCTAssertEqual(t.command(.send(to: "zz", text: "x")).answers, [["ok": false, "error": "unknown agent zz"]])
        t.command(.agentStop("b1"))
        XCTAssertEqual(t.command(.send(to: "b1", text: "x")).answers, [["ok": false, "error": "agent b1 is stopped"]])
    }

    func test_deadlineMayHaveMoved_shouldBeFalseOnlyAfterAPureRoutingInput() {
        var t = node()
        t.input(.agentConnected("b1", generation: 1))
        t.input(.tick)
        XCTAssertTrue(t.core.deadlineMayHaveMoved)
        let origin = AgentOrigin(agent: "b1", generation: 1, id: nil)
        t.input(.agentRequest(origin, op: "send", request: ["to": "b1", "payload": 1]))
        XCTAssertFalse(t.core.deadlineMayHaveMoved, "a delivery to a local agent moves no timer")
        t.input(.agentUnreachable(message(), origin: .network))
        XCTAssertTrue(t.core.deadlineMayHaveMoved, "a held message expires")
        t.input(.agentRequest(origin, op: "report", request: ["peer": "b1", "status": "ok"]))
        XCTAssertFalse(t.core.deadlineMayHaveMoved)
        t.input(.agentRequest(origin, op: "relaunch", request: ["peer": "b1"]))
        XCTAssertTrue(t.core.deadlineMayHaveMoved)
    }

    func test_outcome_ofAHeldMessage_shouldReachItsSenderOnlyOnFailure() {
        let m = AgentMessage(from: "s1", to: "b1", payload: [])
        XCTAssertEqual(RouteOrigin.held.outcome(of: m, error: nil), [])
        XCTAssertEqual(RouteOrigin.held.outcome(of: m, error: "full"),
                       [.push(["event": "send_failed", "to": "b1", "reason": "refused", "error": "full"], to: "s1")])
        XCTAssertEqual(RouteOrigin.network.outcome(of: m, error: "full"), [])
    }
}
