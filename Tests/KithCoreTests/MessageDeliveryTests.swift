import XCTest
@testable import KithCore

/// The two halves of end-to-end delivery on their own: the sending daemon's
/// outbox (places, cumulative acknowledgement, resend, give-up, bounds) and
/// the receiving daemon's inbox (once, in order, fencing), on a fake clock.
final class MessageDeliveryTests: XCTestCase {
    private let t0 = Instant(nanoseconds: 1_000_000_000)
    private let key = Outbox.Key(from: "s1", generation: 1, to: "b1")

    private func stamp(_ seq: UInt64, base: UInt64? = nil, generation: UInt64 = 1) -> DeliveryStamp {
        DeliveryStamp(generation: generation, seq: seq, base: base ?? seq, replyTo: "a:7946")
    }

    // MARK: Outbox

    func test_outbox_shouldNumberEachStreamFromOne_andTakeAcknowledgedPrefixes() {
        var outbox = Outbox()
        XCTAssertEqual((1...3).map { outbox.enqueue(key, payload: [UInt8($0)], id: .int(Int64($0)), now: t0) }, [1, 2, 3])
        let other = Outbox.Key(from: "s1", generation: 1, to: "c1")
        XCTAssertEqual(outbox.enqueue(other, payload: [], id: nil, now: t0), 1)
        XCTAssertEqual(outbox.perSender["s1"], 4)
        outbox.acknowledge(key, upTo: 2, now: t0)
        XCTAssertEqual(outbox.pending(key).map(\.seq), [3])
        XCTAssertEqual(outbox.base(key), 3)
        outbox.acknowledge(key, upTo: 1, now: t0)  // late and stale: changes nothing
        XCTAssertEqual(outbox.pending(key).map(\.seq), [3])
        outbox.acknowledge(key, upTo: 3, now: t0)
        XCTAssertTrue(outbox.pending(key).isEmpty)
        XCTAssertEqual(outbox.base(key), 4, "an idle stream's base is its next place")
        XCTAssertEqual(outbox.count, 1)
        XCTAssertEqual(outbox.bytes, 0)
        outbox.assertInvariants()
    }

    func test_outbox_resend_shouldComeDueAfterTheInterval_andGiveUpAfterTenSecondsNamingEachId() {
        var outbox = Outbox()
        _ = outbox.enqueue(key, payload: [1], id: "a", now: t0)
        _ = outbox.enqueue(key, payload: [2], id: nil, now: t0 + .seconds(1))
        XCTAssertEqual(outbox.nextDeadline, t0 + Outbox.resendAfter)
        XCTAssertTrue(outbox.dueForResend(now: t0 + (Outbox.resendAfter - .milliseconds(1))).isEmpty)
        XCTAssertEqual(outbox.dueForResend(now: t0 + Outbox.resendAfter), [key])
        XCTAssertTrue(outbox.dueForResend(now: t0 + Outbox.resendAfter).isEmpty, "re-armed")
        XCTAssertTrue(outbox.expire(now: t0 + (Outbox.giveUpAfter - .milliseconds(1))).isEmpty)
        let expired = outbox.expire(now: t0 + Outbox.giveUpAfter)
        XCTAssertEqual(expired.map(\.1.id), ["a"])
        XCTAssertEqual(outbox.base(key), 2, "the receiver skips what the sender gave up on")
        XCTAssertEqual(outbox.expire(now: t0 + .seconds(11)).map(\.1.seq), [2])
        XCTAssertNil(outbox.nextDeadline)
        outbox.assertInvariants()
    }

    func test_outbox_shouldRefuseASenderPastItsWindow_butNotOthers() {
        var outbox = Outbox()
        for _ in 0..<Outbox.perSenderMax { _ = outbox.enqueue(key, payload: [], id: nil, now: t0) }
        XCTAssertEqual(outbox.refusal(from: "s1", size: 0), "\(Outbox.perSenderMax) messages of s1 wait for acknowledgement; retry")
        XCTAssertNil(outbox.refusal(from: "s2", size: 0))
        XCTAssertNotNil(outbox.refusal(from: "s2", size: Outbox.bytesMax + 1))
        XCTAssertEqual(outbox.fail(key).count, Outbox.perSenderMax)
        XCTAssertNil(outbox.refusal(from: "s1", size: 0))
        outbox.assertInvariants()
    }

    func test_outbox_restore_shouldPutAFailedLocalDeliveryBackInOrder() {
        var outbox = Outbox()
        for n in 1...3 { _ = outbox.enqueue(key, payload: [UInt8(n)], id: nil, now: t0) }
        let first = outbox.pending(key).first!
        outbox.acknowledge(key, upTo: 1, now: t0)
        outbox.restore(key, first, now: t0)
        outbox.restore(key, first, now: t0)
        XCTAssertEqual(outbox.pending(key).map(\.seq), [1, 2, 3])
        outbox.assertInvariants()
    }

    // MARK: Inbox

    func test_inbox_shouldDeliverOnceAndInOrder() {
        var inbox = Inbox()
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(1), newestKnown: 1), .deliver)
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(1), newestKnown: 1), .duplicate(upTo: 1))
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(3, base: 2), newestKnown: 1), .early)
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(2, base: 2), newestKnown: 1), .deliver)
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(3, base: 2), newestKnown: 1), .deliver)
        XCTAssertEqual(inbox.admit(from: "s2", to: "b1", stamp(1), newestKnown: 0), .deliver, "streams are per sender")
    }

    func test_inbox_aNewStream_shouldStartAtTheSendersBase_andSkipWhatItGaveUpOn() {
        var inbox = Inbox()
        // The receiver was relaunched here: 1...4 were acknowledged by its previous copy.
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(6, base: 5), newestKnown: 1), .early)
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(5, base: 5), newestKnown: 1), .deliver)
        // The sender gave up on 6 and 7: its base moved past them.
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(8, base: 8), newestKnown: 1), .deliver)
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(7, base: 7), newestKnown: 1), .duplicate(upTo: 8))
    }

    func test_inbox_shouldFenceAStaleSenderCopy_byTheRegistryOrByTheStream() {
        var inbox = Inbox()
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(1, generation: 1), newestKnown: 2), .fenced(newest: 2))
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(1, generation: 3), newestKnown: 2), .deliver, "newer than the registry knows")
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(9, generation: 2), newestKnown: 2), .fenced(newest: 3))
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(2, generation: 3), newestKnown: 2), .deliver)
    }

    func test_inbox_undo_shouldExpectTheMessageAgain() {
        var inbox = Inbox()
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(1), newestKnown: 1), .deliver)
        inbox.undo(from: "s1", to: "b1", stamp(1))
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(2, base: 1), newestKnown: 1), .early)
        XCTAssertEqual(inbox.admit(from: "s1", to: "b1", stamp(1), newestKnown: 1), .deliver)
    }
}
