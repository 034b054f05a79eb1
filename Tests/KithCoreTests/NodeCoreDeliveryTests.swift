import XCTest
@testable import KithCore

/// End-to-end delivery inside `NodeCore`: an agent's `send` is answered at
/// once, stamped, resent until the receiving daemon acknowledges it, and
/// failed by id after `Outbox.giveUpAfter`; the receiving daemon hands each
/// message over once and in order and refuses stale sender copies.
final class NodeCoreDeliveryTests: XCTestCase {
    private let s1 = AgentOrigin(agent: "s1", generation: 1, id: nil)

    /// Node a with members b and c; s1 runs (connected) here, b1 is started on b.
    private func sender() -> NT {
        var t = NT()
        t.input(.start)
        t.meetOthers()
        t.startLocal(NT.spec("s1"))
        t.input(.agentConnected("s1", generation: 1))
        t.command(.agentStart(NT.spec("b1"), on: "b"))
        XCTAssertEqual(t.core.registry.records["b1"]?.host, "b")
        return t
    }

    /// A lone node a on which s1 runs (connected).
    private func localSender() -> NT {
        var t = NT()
        t.input(.start)
        t.startLocal(NT.spec("s1"))
        t.input(.agentConnected("s1", generation: 1))
        return t
    }

    /// A lone node a on which b1 runs (connected).
    private func receiver() -> NT {
        var t = NT()
        t.input(.start)
        t.startLocal(NT.spec("b1"))
        t.input(.agentConnected("b1", generation: 1))
        return t
    }

    private func send(_ t: inout NT, _ n: Int, to: String = "b1") -> [NodeDirective] {
        t.input(.agentRequest(AgentOrigin(agent: "s1", generation: 1, id: .int(Int64(n))), op: "send",
                              request: ["to": .string(to), "payload": .int(Int64(n)), "id": .int(Int64(n))]))
    }

    private func forwards(_ out: [NodeDirective]) -> [AgentMessage] {
        out.compactMap { if case let .forward(message, "b:7946", "b", _) = $0 { message } else { nil } }
    }

    private func stamped(_ seq: UInt64, base: UInt64? = nil, generation: UInt64 = 1, from: String = "s1") -> Message {
        .agentMessage(from: from, to: "b1", payload: Array("\(seq)".utf8),
                      stamp: DeliveryStamp(generation: generation, seq: seq, base: base ?? seq, replyTo: "z:7946"))
    }

    private func acks(_ out: [NodeDirective]) -> [MessageAck] {
        out.sends.compactMap { if case let .agentAck(ack) = $0.0, $0.1 == "z:7946" { ack } else { nil } }
    }

    func test_send_toARemoteAgent_shouldForwardStampedWithItsAnswer_andForgetItOnceAcknowledged() {
        var t = sender()
        let out = send(&t, 1) + send(&t, 2)
        XCTAssertTrue(out.replies.isEmpty, "answered once the frame is on its link")
        let origins = out.compactMap { if case let .forward(_, _, _, origin) = $0 { origin } else { nil } }
        XCTAssertEqual(origins, [1, 2].map { .agent(AgentOrigin(agent: "s1", generation: 1, id: .int($0))) })
        XCTAssertEqual(forwards(out).map(\.stamp), [DeliveryStamp(generation: 1, seq: 1, base: 1, replyTo: "a:7946"),
                                                    DeliveryStamp(generation: 1, seq: 2, base: 1, replyTo: "a:7946")])
        XCTAssertEqual(t.core.router.outbox.count, 2)
        t.input(.receive(.agentAck(MessageAck(from: "s1", generation: 1, to: "b1", seq: 2, outcome: .delivered))))
        XCTAssertEqual(t.core.router.outbox.count, 0)
        t.advance(.seconds(11))
        XCTAssertTrue(t.input(.tick).pushes.filter { $0.0["event"] == "send_failed" }.isEmpty)
    }

    func test_noAcknowledgement_shouldResendOldestFirst_thenFailEachId() {
        var t = sender()
        send(&t, 1)
        send(&t, 2)
        t.advance(Outbox.resendAfter)
        let resent = forwards(t.input(.tick))
        XCTAssertEqual(resent.map { $0.stamp?.seq }, [1, 2])
        XCTAssertEqual(resent.map { $0.stamp?.base }, [1, 1])
        t.advance(Outbox.giveUpAfter)
        let failed = t.input(.tick).pushes.filter { $0.0["event"] == "send_failed" }
        XCTAssertEqual(failed.map(\.1), ["s1", "s1"])
        XCTAssertEqual(failed.map { $0.0["id"] }, [1, 2])
        XCTAssertEqual(failed.first?.0["reason"], "timeout")
        XCTAssertEqual(failed.first?.0["to"], "b1")
        XCTAssertEqual(t.core.router.outbox.count, 0)
        XCTAssertEqual(t.core.router.failed, 2)
    }

    func test_aSendRefusedOnACongestedLink_shouldBeTakenBack_andItsPlaceGivenToTheNext() {
        var t = sender()
        guard case let .forward(message, _, _, origin)? = send(&t, 1).last else { return XCTFail("no forward") }
        t.input(.agentUnreachable(message, origin: origin))
        XCTAssertEqual(t.core.router.outbox.count, 0, "the agent was told to retry: not kept")
        XCTAssertEqual(forwards(send(&t, 2)).map { $0.stamp?.seq }, [1])
        t.advance(Outbox.giveUpAfter)
        XCTAssertEqual(t.input(.tick).pushes.filter { $0.0["event"] == "send_failed" }.map { $0.0["id"] }, [2], "only the one accepted fails")
    }

    func test_aFullWindow_shouldRefuseTheSendWithRetry() {
        var t = sender()
        for n in 0..<Outbox.perSenderMax { send(&t, n) }
        let refused = send(&t, 0).replies.map(\.1)
        XCTAssertEqual(refused.first?["ok"], false)
        XCTAssertEqual(refused.first?["error"]?.stringValue?.hasSuffix("retry"), true)
    }

    func test_aStoppedReceiver_shouldFailWhatWaitsForIt() {
        var t = sender()
        send(&t, 1)
        t.command(.agentStop("b1"))
        t.advance(Outbox.resendAfter)
        let failed = t.input(.tick).pushes.filter { $0.0["event"] == "send_failed" }
        XCTAssertEqual(failed.map { $0.0["reason"] }, ["stopped"])
        XCTAssertEqual(failed.map { $0.0["id"] }, [1])
    }

    func test_receivingDaemon_shouldDeliverOnceAndInOrder_andAcknowledgeCumulatively() {
        var t = receiver()
        let first = t.input(.receive(stamped(1)))
        XCTAssertEqual(first.compactMap { if case let .deliver(m, .network) = $0 { m.stamp?.seq } else { nil } }, [UInt64(1)])
        XCTAssertEqual(RouteOrigin.network.outcome(of: AgentMessage(from: "s1", to: "b1", payload: [],
                                                                      stamp: DeliveryStamp(generation: 1, seq: 1, base: 1, replyTo: "z:7946")),
                                                   error: nil),
                       [.send(.agentAck(MessageAck(from: "s1", generation: 1, to: "b1", seq: 1, outcome: .delivered)), to: "z:7946")])
        let again = t.input(.receive(stamped(1)))
        XCTAssertTrue(again.filter { if case .deliver = $0 { true } else { false } }.isEmpty, "a duplicate is not handed over")
        XCTAssertEqual(acks(again).map(\.seq), [1], "but acknowledged again")
        XCTAssertTrue(t.input(.receive(stamped(3, base: 2))).isEmpty, "an early one waits for the resend")
        XCTAssertEqual(t.input(.receive(stamped(2))).count, 1)
    }

    func test_receivingDaemon_whenThePushFails_shouldExpectTheMessageAgain() {
        var t = receiver()
        let message = AgentMessage(from: "s1", to: "b1", payload: Array("1".utf8),
                                   stamp: DeliveryStamp(generation: 1, seq: 1, base: 1, replyTo: "z:7946"))
        t.input(.receive(stamped(1)))
        XCTAssertTrue(t.input(.agentUnreachable(message, origin: .network)).isEmpty, "not held: the sender's daemon sends again")
        XCTAssertTrue(t.core.router.held.isEmpty)
        XCTAssertEqual(t.input(.receive(stamped(1))).count, 1, "handed over on the resend")
    }

    func test_staleSenderCopy_shouldBeDropped_recordedOnce_andRefused() {
        var t = receiver()
        t.input(.receive(stamped(1, generation: 2)))
        let stale = t.input(.receive(stamped(7, generation: 1))) + t.input(.receive(stamped(8, generation: 1)))
        XCTAssertTrue(stale.filter { if case .deliver = $0 { true } else { false } }.isEmpty)
        XCTAssertEqual(stale.events("message_fenced").map(\.fields), [["from": "s1", "to": "b1", "generation": 1, "newest": 2]])
        XCTAssertEqual(acks(stale).map(\.outcome), [.fenced, .fenced])
        XCTAssertEqual(t.core.router.fenced, 2)
    }

    func test_fencedAcknowledgement_shouldFailTheStreamById() {
        var t = sender()
        send(&t, 1)
        send(&t, 2)
        let out = t.input(.receive(.agentAck(MessageAck(from: "s1", generation: 1, to: "b1", seq: 1, outcome: .fenced))))
        XCTAssertEqual(out.pushes.map { $0.0["id"] }, [1, 2])
        XCTAssertEqual(out.pushes.map { $0.0["reason"] }, ["fenced", "fenced"])
    }

    func test_localReceiver_shouldGetMessagesOnlyOnceConnected_andKeepOnesItsSessionDidNotTake() {
        var t = localSender()
        t.startLocal(NT.spec("b1"))
        let early = send(&t, 1)
        XCTAssertEqual(early.replies.map(\.1), [["ok": true]])
        XCTAssertFalse(early.contains { if case .deliver = $0 { true } else { false } }, "not before its hello")
        let connected = t.input(.agentConnected("b1", generation: 1))
        XCTAssertEqual(connected.compactMap { if case let .deliver(m, .outbox) = $0 { m.stamp?.seq } else { nil } }, [UInt64(1)])
        XCTAssertEqual(t.core.router.outbox.count, 0, "counted delivered")

        guard case let .deliver(message, .outbox)? = send(&t, 2).last else { return XCTFail("no local delivery") }
        t.input(.agentUnreachable(message, origin: .outbox))
        XCTAssertEqual(t.core.router.outbox.pending(Outbox.Key(from: "s1", generation: 1, to: "b1")).map(\.id), [2], "kept, with its id")
        let third = send(&t, 3)
        XCTAssertFalse(third.contains { if case .deliver = $0 { true } else { false } }, "not ahead of the one kept")
        t.advance(Outbox.resendAfter)
        XCTAssertEqual(t.input(.tick).compactMap { if case let .deliver(m, .outbox) = $0 { m.stamp?.seq } else { nil } }, [UInt64(2), 3])
        XCTAssertEqual(t.core.router.outbox.count, 0)
    }
}

extension NodeCoreDeliveryTests {
    /// The soak's lost run: a local receiver fenced while its record still said running took every
    /// resend and failed it; each failure put the message back as if queued anew, so it never timed out.
    func test_aLocalReceiverWhoseDeliveriesKeepFailing_shouldStillFailTheMessageByIdAfterTheGiveUp() {
        var t = localSender()
        t.startLocal(NT.spec("b1"))
        t.input(.agentConnected("b1", generation: 1))
        let queued = t.now
        var out = send(&t, 7)
        var failed: [(JSON, String)] = []
        for _ in 0..<40 where failed.isEmpty {
            for case let .deliver(message, .outbox) in out { t.input(.agentUnreachable(message, origin: .outbox)) }
            t.advance(Outbox.resendAfter)
            out = t.input(.tick)
            failed = out.pushes.filter { $0.0["event"] == "send_failed" }
        }
        XCTAssertEqual(failed.map { $0.0["id"] }, [7], "failed by id")
        XCTAssertLessThanOrEqual(t.now.since(queued), Outbox.giveUpAfter + Outbox.resendAfter,
                                 "at the give-up, not pushed back by every failed delivery")
        XCTAssertEqual(t.core.router.outbox.count, 0)
    }

    func test_aStampedMessageForAgentThatMoved_shouldBeRelayed_andOnlyItsReceivingDaemonAcknowledges() {
        var t = sender()
        let out = t.input(.receive(stamped(1)))
        XCTAssertEqual(out.compactMap { if case let .forward(m, "b:7946", "b", .relay) = $0 { m.stamp?.seq } else { nil } }, [UInt64(1)])
        XCTAssertEqual(RouteOrigin.relay.outcome(of: AgentMessage(from: "s1", to: "b1", payload: [],
                                                                    stamp: DeliveryStamp(generation: 1, seq: 1, base: 1, replyTo: "a")),
                                                 error: nil), [], "forwarding is not delivery")
    }
}
