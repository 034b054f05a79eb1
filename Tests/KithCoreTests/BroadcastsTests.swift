import XCTest
@testable import KithCore

final class BroadcastsTests: XCTestCase {
    private func alive(_ name: String, _ incarnation: UInt32 = 0) -> Gossip { MT.alive(name, incarnation) }
    private func names(_ rumours: [Gossip]) -> [String] { rumours.map(\.subject.name) }

    func test_enqueue_newerRumour_shouldReplaceOlder_forTheSameMember() {
        var b = Broadcasts()
        b.enqueue(alive("b"))
        b.enqueue(.suspect(MT.id("b"), incarnation: 0, by: "c"))
        XCTAssertEqual(b.count, 1)
        XCTAssertEqual(b.pending(about: "b"), .suspect(MT.id("b"), incarnation: 0, by: "c"))
        XCTAssertEqual(b.take(limit: 10, retransmitLimit: 5), [.suspect(MT.id("b"), incarnation: 0, by: "c")])
    }

    func test_enqueue_replacement_shouldResetTheTransmitCount() {
        var b = Broadcasts()
        b.enqueue(alive("b"))
        _ = b.take(limit: 10, retransmitLimit: 2)          // sent once
        b.enqueue(alive("b", 1))                            // replaced: a fresh rumour
        XCTAssertEqual(b.take(limit: 10, retransmitLimit: 2), [alive("b", 1)])
        XCTAssertEqual(b.take(limit: 10, retransmitLimit: 2), [alive("b", 1)], "two sends before retiring")
        XCTAssertEqual(b.take(limit: 10, retransmitLimit: 2), [])
    }

    func test_take_shouldSendLeastSentFirst_thenNewestFirst() {
        var b = Broadcasts()
        b.enqueue(alive("x"))
        b.enqueue(alive("y"))
        b.enqueue(alive("z"))
        XCTAssertEqual(names(b.take(limit: 1, retransmitLimit: 10)), ["z"], "all unsent: newest first")
        XCTAssertEqual(names(b.take(limit: 1, retransmitLimit: 10)), ["y"], "z was sent once, y not yet")
        XCTAssertEqual(names(b.take(limit: 2, retransmitLimit: 10)), ["x", "z"], "x unsent; then z newer than y")
        XCTAssertEqual(names(b.take(limit: 3, retransmitLimit: 10)), ["y", "x", "z"],
                       "x and y sent once (y newer), z twice")
    }

    func test_take_shouldRetireARumour_afterTheRetransmitLimit() {
        for limit in [1, 2, 5] {
            var b = Broadcasts()
            b.enqueue(alive("b"))
            for round in 1...limit {
                XCTAssertEqual(b.take(limit: 10, retransmitLimit: limit), [alive("b")], "limit \(limit) round \(round)")
            }
            XCTAssertEqual(b.take(limit: 10, retransmitLimit: limit), [], "limit \(limit): retired")
            XCTAssertEqual(b.count, 0)
            XCTAssertNil(b.pending(about: "b"))
        }
    }

    func test_take_withFirst_shouldPutThatRumourFirst_evenIfSentMore() {
        var b = Broadcasts()
        b.enqueue(alive("s"))
        _ = b.take(limit: 10, retransmitLimit: 10)          // s sent once
        b.enqueue(alive("p"))
        b.enqueue(alive("q"))
        XCTAssertEqual(names(b.take(limit: 10, retransmitLimit: 10, first: "s")), ["s", "q", "p"])
        XCTAssertEqual(names(b.take(limit: 1, retransmitLimit: 10, first: "s")), ["s"], "first takes the only slot")
        XCTAssertEqual(names(b.take(limit: 2, retransmitLimit: 10, first: "nobody")), ["q", "p"],
                       "an absent first is ignored")
    }

    func test_take_shouldRespectTheLimit() {
        struct Case { var queued: Int, limit: Int, expected: Int }
        let cases = [Case(queued: 10, limit: 4, expected: 4), Case(queued: 3, limit: 4, expected: 3),
                     Case(queued: 5, limit: 0, expected: 0), Case(queued: 0, limit: 4, expected: 0),
                     Case(queued: 5, limit: -1, expected: 0)]
        for t in cases {
            var b = Broadcasts()
            for i in 0..<t.queued { b.enqueue(alive("n\(i)")) }
            let taken = b.take(limit: t.limit, retransmitLimit: 10, first: t.queued > 0 ? "n0" : nil)
            XCTAssertEqual(taken.count, t.expected, "queued \(t.queued) limit \(t.limit)")
            XCTAssertEqual(Set(names(taken)).count, taken.count, "no rumour twice in one message")
            if t.expected > 0 { XCTAssertEqual(taken.first?.subject.name, "n0") }
        }
    }

    func test_remove_shouldDropTheRumourAboutThatMember() {
        var b = Broadcasts()
        b.enqueue(alive("b"))
        b.enqueue(alive("c"))
        b.remove(subject: "b")
        XCTAssertEqual(b.count, 1)
        XCTAssertEqual(b.take(limit: 10, retransmitLimit: 3), [alive("c")])
    }
}
