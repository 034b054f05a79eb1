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

    /// The queue is a heap with stale keys left behind by replacements,
    /// removals and sends; whatever the mix, `take` must choose exactly what
    /// sorting the whole queue chose (the order simulation histories depend on).
    func test_take_shouldMatchAFullSort_overRandomEnqueuesRemovalsAndTakes() {
        for seed in UInt64(1)...8 {
            var rng = SeededRandom(seed: seed)
            var b = Broadcasts()
            var model = SortedModel()
            for step in 0..<2000 {
                let name = "m\(rng.next() % 60)"
                switch rng.next() % 10 {
                case 0...4:
                    let gossip = alive(name, UInt32(step))
                    b.enqueue(gossip)
                    model.enqueue(gossip)
                case 5:
                    b.remove(subject: name)
                    model.remove(name)
                default:
                    let limit = Int(rng.next() % 8)
                    let retransmitLimit = 1 + Int(rng.next() % 6)
                    let first = rng.next() % 3 == 0 ? name : nil
                    XCTAssertEqual(b.take(limit: limit, retransmitLimit: retransmitLimit, first: first),
                                   model.take(limit: limit, retransmitLimit: retransmitLimit, first: first),
                                   "seed \(seed) step \(step)")
                }
                XCTAssertEqual(b.count, model.entries.count, "seed \(seed) step \(step)")
            }
        }
    }

    /// The former implementation, kept as the oracle: sort everything, take a prefix.
    private struct SortedModel {
        var entries: [(gossip: Gossip, transmits: Int, order: Int)] = []
        var counter = 0

        mutating func enqueue(_ gossip: Gossip) {
            remove(gossip.subject.name)
            counter += 1
            entries.append((gossip, 0, counter))
        }

        mutating func remove(_ name: String) { entries.removeAll { $0.gossip.subject.name == name } }

        mutating func take(limit: Int, retransmitLimit: Int, first: String?) -> [Gossip] {
            guard limit > 0 else { return [] }
            let sorted = entries.indices.sorted { a, b in
                entries[a].transmits != entries[b].transmits
                    ? entries[a].transmits < entries[b].transmits : entries[a].order > entries[b].order
            }
            var chosen = sorted.filter { entries[$0].gossip.subject.name == first }
            chosen += sorted.filter { entries[$0].gossip.subject.name != first }.prefix(limit - chosen.count)
            let out = chosen.map { entries[$0].gossip }
            for index in chosen { entries[index].transmits += 1 }
            let retired = Set(chosen.filter { entries[$0].transmits >= retransmitLimit })
            entries = entries.indices.filter { !retired.contains($0) }.map { entries[$0] }
            return out
        }
    }
}
