import XCTest
@testable import KithCore

/// The delivery facts the core states for the event log: which places of a
/// stream were answered `ok` (here: to a local receiver; the shell states the
/// forwarded ones once their frame left) and which failed, with the reason.
final class NodeCoreDeliveryFactsTests: XCTestCase {
    private let stream = Outbox.Key(from: "s1", generation: 1, to: "b1")

    private func facts(_ out: [NodeDirective]) -> [DeliveryFact] {
        out.compactMap { if case let .recordDelivery(fact) = $0 { fact } else { nil } }
    }

    @discardableResult
    private func send(_ t: inout NT, _ n: Int) -> [NodeDirective] {
        t.input(.agentRequest(AgentOrigin(agent: "s1", generation: 1, id: .int(Int64(n))), op: "send",
                              request: ["to": "b1", "payload": .int(Int64(n)), "id": .int(Int64(n))]))
    }

    /// s1 runs here; b1 runs here too (`local`) or on member b.
    private func node(local: Bool) -> NT {
        var t = NT()
        t.input(.start)
        if !local { t.meetOthers() }
        t.startLocal(NT.spec("s1"))
        t.input(.agentConnected("s1", generation: 1))
        if local {
            t.startLocal(NT.spec("b1"))
            t.input(.agentConnected("b1", generation: 1))
        } else {
            t.command(.agentStart(NT.spec("b1"), on: "b"))
        }
        return t
    }

    func test_localSend_statesItsAcknowledgedPlace_rightAfterTheOk() {
        var t = node(local: true)
        let out = send(&t, 1) + send(&t, 2)
        XCTAssertEqual(facts(out), [.sendAcknowledged(stream, seq: 1), .sendAcknowledged(stream, seq: 2)])
        let ok = out.firstIndex { if case .replyAgent = $0 { true } else { false } }
        let fact = out.firstIndex { if case .recordDelivery = $0 { true } else { false } }
        XCTAssertEqual(ok.map { $0 + 1 }, fact)
    }

    func test_forwardedSend_statesNothing_theShellStatesItOnceTheFrameLeft() {
        var t = node(local: false)
        XCTAssertEqual(facts(send(&t, 1)), [])
    }

    func test_timedOutMessages_areOneFactPerStream_withTheirPlaces() {
        var t = node(local: false)
        send(&t, 1)
        send(&t, 2)
        t.advance(Outbox.giveUpAfter + .seconds(1))
        XCTAssertEqual(facts(t.input(.tick)), [.sendFailed(stream, seqs: [1, 2], reason: "timeout")])
    }

    func test_aFencedStream_statesItsFailedPlaces_asFenced() {
        var t = node(local: false)
        send(&t, 1)
        send(&t, 2)
        let out = t.input(.receive(.agentAck(MessageAck(from: "s1", generation: 1, to: "b1", seq: 1, outcome: .fenced))))
        XCTAssertEqual(facts(out), [.sendFailed(stream, seqs: [1, 2], reason: "fenced")])
    }
}
