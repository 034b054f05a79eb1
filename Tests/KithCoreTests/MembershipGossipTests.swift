import XCTest
@testable import KithCore

/// Applying rumours: SWIM 4.2 ordering by incarnation, left as final, the
/// higher uid of a restart, and refutation of suspicions about this node.
final class MembershipGossipTests: XCTestCase {
    private let a = MT.id("a")
    private let b1 = MT.id("b", uid: 1)
    private let b2 = MT.id("b", uid: 2)

    private func suspect(_ id: NodeID, _ incarnation: UInt32, by: String = "c") -> Gossip {
        .suspect(id, incarnation: incarnation, by: by)
    }
    private func dead(_ id: NodeID, _ incarnation: UInt32, by: String = "c") -> Gossip {
        .dead(id, incarnation: incarnation, by: by)
    }
    private func alive(_ id: NodeID, _ incarnation: UInt32) -> Gossip {
        .alive(id, incarnation: incarnation, meta: MT.meta(id.name))
    }

    // MARK: Ordering

    func test_apply_rumourOrdering_table() {
        struct Case {
            var name: String
            var before: [Gossip]          // heard first, to set b's state
            var rumour: Gossip
            var status: MemberStatus?     // b's state afterwards (nil: unknown)
            var uid: UInt64 = 1
            var incarnation: UInt32 = 0
            var previous: MemberStatus??  // the memberChanged directive, if any
        }
        let cases: [Case] = [
            // alive
            Case(name: "alive about an unknown member is learned", before: [], rumour: alive(b1, 3),
                 status: .alive, incarnation: 3, previous: .some(nil)),
            Case(name: "alive at a higher incarnation refutes suspect", before: [alive(b1, 0), suspect(b1, 0)],
                 rumour: alive(b1, 1), status: .alive, incarnation: 1, previous: .suspect),
            Case(name: "alive at a higher incarnation refutes dead", before: [alive(b1, 0), dead(b1, 0)],
                 rumour: alive(b1, 1), status: .alive, incarnation: 1, previous: .dead),
            Case(name: "alive at the same incarnation does not refute suspect", before: [alive(b1, 2), suspect(b1, 2)],
                 rumour: alive(b1, 2), status: .suspect, incarnation: 2),
            Case(name: "alive at the same incarnation does not refute dead", before: [alive(b1, 2), dead(b1, 2)],
                 rumour: alive(b1, 2), status: .dead, incarnation: 2),
            Case(name: "alive at a lower incarnation is stale", before: [alive(b1, 2), suspect(b1, 2)],
                 rumour: alive(b1, 1), status: .suspect, incarnation: 2),
            Case(name: "alive at a higher incarnation updates an alive member quietly", before: [alive(b1, 0)],
                 rumour: alive(b1, 4), status: .alive, incarnation: 4),
            // suspect
            Case(name: "suspect at the same incarnation suspects", before: [alive(b1, 1)],
                 rumour: suspect(b1, 1), status: .suspect, incarnation: 1, previous: .alive),
            Case(name: "suspect at a higher incarnation suspects", before: [alive(b1, 1)],
                 rumour: suspect(b1, 3), status: .suspect, incarnation: 3, previous: .alive),
            Case(name: "suspect at a lower incarnation is ignored", before: [alive(b1, 2)],
                 rumour: suspect(b1, 1), status: .alive, incarnation: 2),
            Case(name: "suspect does not revive the dead", before: [alive(b1, 0), dead(b1, 0)],
                 rumour: suspect(b1, 5), status: .dead, incarnation: 0),
            Case(name: "suspect about an unknown member is not learned", before: [], rumour: suspect(b1, 0),
                 status: nil),
            // dead
            Case(name: "dead beats alive at the same incarnation", before: [alive(b1, 1)],
                 rumour: dead(b1, 1), status: .dead, incarnation: 1, previous: .alive),
            Case(name: "dead beats suspect at the same incarnation", before: [alive(b1, 1), suspect(b1, 1)],
                 rumour: dead(b1, 1), status: .dead, incarnation: 1, previous: .suspect),
            Case(name: "dead at a higher incarnation", before: [alive(b1, 1)],
                 rumour: dead(b1, 2), status: .dead, incarnation: 2, previous: .alive),
            Case(name: "dead at a lower incarnation is stale", before: [alive(b1, 2)],
                 rumour: dead(b1, 1), status: .alive, incarnation: 2),
            Case(name: "dead about an unknown member is not learned", before: [], rumour: dead(b1, 0), status: nil),
            // left
            Case(name: "left ends an alive member", before: [alive(b1, 0)], rumour: MT.left(b1, incarnation: 1),
                 status: .left, incarnation: 1, previous: .alive),
            Case(name: "left ends a dead member", before: [alive(b1, 0), dead(b1, 0)], rumour: MT.left(b1, incarnation: 0),
                 status: .left, incarnation: 0, previous: .dead),
            Case(name: "left keeps the higher known incarnation", before: [alive(b1, 4)],
                 rumour: MT.left(b1, incarnation: 1), status: .left, incarnation: 4, previous: .alive),
            Case(name: "left is final: alive later is ignored", before: [alive(b1, 0), MT.left(b1, incarnation: 1)],
                 rumour: alive(b1, 9), status: .left, incarnation: 1),
            Case(name: "left is final: suspect later is ignored", before: [alive(b1, 0), MT.left(b1, incarnation: 1)],
                 rumour: suspect(b1, 9), status: .left, incarnation: 1),
            Case(name: "left is final: dead later is ignored", before: [alive(b1, 0), MT.left(b1, incarnation: 1)],
                 rumour: dead(b1, 9), status: .left, incarnation: 1),
            Case(name: "left about an unknown member is not learned", before: [], rumour: MT.left(b1, incarnation: 0),
                 status: nil),
            // a later boot under the same name
            Case(name: "a higher uid replaces an alive record", before: [alive(b1, 7)], rumour: alive(b2, 0),
                 status: .alive, uid: 2, incarnation: 0, previous: .some(nil)),
            Case(name: "a higher uid replaces a suspect record", before: [alive(b1, 7), suspect(b1, 7)],
                 rumour: alive(b2, 0), status: .alive, uid: 2, incarnation: 0, previous: .some(nil)),
            Case(name: "a higher uid replaces a dead record", before: [alive(b1, 7), dead(b1, 7)],
                 rumour: alive(b2, 0), status: .alive, uid: 2, incarnation: 0, previous: .some(nil)),
            Case(name: "a higher uid replaces a left record", before: [alive(b1, 7), MT.left(b1, incarnation: 8)],
                 rumour: alive(b2, 0), status: .alive, uid: 2, incarnation: 0, previous: .some(nil)),
            Case(name: "suspect about an unseen later boot is ignored", before: [alive(b1, 0)], rumour: suspect(b2, 0),
                 status: .alive, uid: 1),
            Case(name: "dead about an unseen later boot is ignored", before: [alive(b1, 0)], rumour: dead(b2, 0),
                 status: .alive, uid: 1),
            // rumours about an earlier boot
            Case(name: "alive about a lower uid is ignored", before: [alive(b2, 0)], rumour: alive(b1, 9),
                 status: .alive, uid: 2),
            Case(name: "suspect about a lower uid is ignored", before: [alive(b2, 0)], rumour: suspect(b1, 9),
                 status: .alive, uid: 2),
            Case(name: "dead about a lower uid is ignored", before: [alive(b2, 0)], rumour: dead(b1, 9),
                 status: .alive, uid: 2),
            Case(name: "left about a lower uid is ignored", before: [alive(b2, 0)], rumour: MT.left(b1, incarnation: 9),
                 status: .alive, uid: 2),
        ]
        for t in cases {
            var m = MT.joined(others: [])
            _ = m.hear(t.before, now: MT.ms(10))
            let out = m.hear([t.rumour], now: MT.ms(20))
            let b = m.member(named: "b")
            XCTAssertEqual(b?.status, t.status, t.name)
            if t.status != nil {
                XCTAssertEqual(b?.id.uid, t.uid, t.name)
                XCTAssertEqual(b?.incarnation, t.incarnation, t.name)
            }
            let changes = out.changes(of: "b")
            if let previous = t.previous {
                XCTAssertEqual(changes.map(\.previous), [previous], t.name)
                XCTAssertEqual(changes.first?.member, b, "\(t.name): the directive carries the new record")
                XCTAssertEqual(changes.first?.member.changedAt, MT.ms(20), t.name)
            } else {
                XCTAssertEqual(changes, [], t.name)
            }
            XCTAssertEqual(out.refutations, [], t.name)
        }
    }

    func test_apply_acceptedRumour_shouldBeQueuedForRetransmission_andIgnoredOneNot() {
        /// `instead`: what is queued when the rumour is not (a stale suspicion is answered with the newer alive).
        struct Case { var name: String, before: [Gossip], rumour: Gossip, queued: Bool, instead: Gossip? = nil }
        let cases = [
            Case(name: "new member", before: [], rumour: alive(b1, 0), queued: true),
            Case(name: "suspicion", before: [alive(b1, 0)], rumour: suspect(b1, 0), queued: true),
            Case(name: "death", before: [alive(b1, 0)], rumour: dead(b1, 0), queued: true),
            Case(name: "goodbye", before: [alive(b1, 0)], rumour: MT.left(b1, incarnation: 0), queued: true),
            Case(name: "refutation", before: [alive(b1, 0), suspect(b1, 0)], rumour: alive(b1, 1), queued: true),
            Case(name: "stale suspect", before: [alive(b1, 2)], rumour: suspect(b1, 1), queued: false, instead: alive(b1, 2)),
            Case(name: "unknown dead", before: [], rumour: dead(b1, 0), queued: false),
        ]
        for t in cases {
            var m = MT.joined(others: [])
            _ = m.hear(t.before, now: MT.ms(10))
            m.broadcasts.remove(subject: "b")
            _ = m.hear([t.rumour], now: MT.ms(20))
            XCTAssertEqual(m.broadcasts.pending(about: "b"), t.queued ? t.rumour : t.instead, t.name)
        }
    }

    func test_apply_confirmingSuspect_fromANewSuspecter_shouldBeRequeued_butNotFromTheSameOne() {
        var m = MT.joined(others: ["b", "c", "d"])
        _ = m.hear([suspect(b1, 0, by: "c")], now: MT.ms(10))
        m.broadcasts.remove(subject: "b")
        _ = m.hear([suspect(b1, 0, by: "c")], now: MT.ms(20))
        XCTAssertNil(m.broadcasts.pending(about: "b"), "nothing new")
        _ = m.hear([suspect(b1, 0, by: "d")], now: MT.ms(30))
        XCTAssertEqual(m.broadcasts.pending(about: "b"), suspect(b1, 0, by: "d"), "an independent confirmation spreads")
        XCTAssertEqual(m.member(named: "b")?.changedAt, MT.ms(10), "still suspect since the first rumour")
    }

    func test_restart_underTheSameName_shouldRejoinAtOnce_andEndTheOldSuspicion() throws {
        var m = MT.joined(others: ["b"])
        _ = m.hear([suspect(b1, 0)], now: MT.ms(10))
        let oldDeadline = try XCTUnwrap(m.suspicions["b"]?.deadline)
        let out = m.hear([alive(b2, 0)], now: MT.ms(20))
        XCTAssertEqual(out.changes(of: "b").map(\.member.status), [.alive])
        XCTAssertNil(m.suspicions["b"], "the old boot's suspicion cannot kill the new boot")
        XCTAssertEqual(m.tick(now: oldDeadline).changes, [])
        XCTAssertEqual(m.member(named: "b")?.id, b2)
        XCTAssertEqual(m.member(named: "b")?.status, .alive)
    }

    // MARK: Refutation

    /// A verdict sent straight to this node can overtake the refutation of the suspicion before it:
    /// dead at the incarnation this node was just suspected at means a member buried it all the same.
    func test_deadAtTheIncarnationOfARefutedSuspicion_shouldSayThisNodeWasDeclaredDead_once() {
        var m = MT.joined(others: ["b"])
        _ = m.hear([suspect(a, 0)], now: MT.ms(1))
        XCTAssertEqual(m.incarnation, 1)
        let declared = { (out: [MembershipDirective]) in
            out.compactMap { if case let .declaredDead(incarnation) = $0 { incarnation } else { nil } }
        }
        XCTAssertEqual(declared(m.hear([dead(a, 0, by: "b")], now: MT.ms(2))), [0])
        XCTAssertEqual(m.incarnation, 1, "already refuted: no second bump")
        XCTAssertEqual(declared(m.hear([dead(a, 0, by: "c")], now: MT.ms(3))), [], "one verdict, one fence")
        var older = MT.joined(others: ["b"])
        _ = older.hear([suspect(a, 0)], now: MT.ms(1))
        _ = older.hear([suspect(a, 1)], now: MT.ms(2))
        XCTAssertEqual(declared(older.hear([dead(a, 0)], now: MT.ms(3))), [], "a verdict older than the last suspicion refuted is old news")
    }

    func test_onSuspectOrDead_aboutSelf_shouldRefute_withIncrementedIncarnation() {
        /// `answers`: old news is not refuted again, but the alive this node holds is gossiped again.
        struct Case { var name: String, own: UInt32, rumour: Gossip, refutesTo: UInt32?, answers: Bool = false }
        let cases = [
            Case(name: "suspect at own incarnation", own: 0, rumour: suspect(a, 0), refutesTo: 1),
            Case(name: "suspect above own incarnation", own: 0, rumour: suspect(a, 5), refutesTo: 6),
            Case(name: "dead at own incarnation", own: 2, rumour: dead(a, 2), refutesTo: 3),
            Case(name: "dead above own incarnation", own: 2, rumour: dead(a, 9), refutesTo: 10),
            Case(name: "suspect below own incarnation is old news", own: 3, rumour: suspect(a, 2), refutesTo: nil, answers: true),
            Case(name: "dead below own incarnation is old news", own: 3, rumour: dead(a, 1), refutesTo: nil, answers: true),
            Case(name: "about an earlier boot of this name", own: 0, rumour: suspect(MT.id("a", uid: 0), 7), refutesTo: nil),
            Case(name: "about a later boot of this name", own: 0, rumour: dead(MT.id("a", uid: 2), 7), refutesTo: nil),
            Case(name: "alive about self", own: 0, rumour: alive(a, 7), refutesTo: nil),
            Case(name: "left about self", own: 0, rumour: MT.left(a, incarnation: 7), refutesTo: nil),
        ]
        for t in cases {
            var m = MT.joined(others: ["b"])
            // Reach the starting incarnation by earlier refutations, then reset health and queue.
            while m.incarnation < t.own { _ = m.hear([suspect(a, m.incarnation)], now: MT.ms(1)) }
            XCTAssertEqual(m.incarnation, t.own)
            m.localHealth = 0
            m.broadcasts.remove(subject: "a")

            let out = m.hear([t.rumour], now: MT.ms(10))
            let expected = t.refutesTo ?? t.own
            XCTAssertEqual(out.refutations, t.refutesTo.map { [$0] } ?? [], t.name)
            XCTAssertEqual(m.incarnation, expected, t.name)
            XCTAssertEqual(m.member(named: "a")?.incarnation, expected, t.name)
            XCTAssertEqual(m.member(named: "a")?.status, .alive, "\(t.name): this node stays alive in its own view")
            XCTAssertEqual(m.member(named: "a")?.id, a, t.name)
            XCTAssertEqual(m.localHealth, t.refutesTo == nil ? 0 : 1, "\(t.name): being suspected hints we are slow")
            XCTAssertEqual(m.broadcasts.pending(about: "a"),
                           (t.refutesTo ?? (t.answers ? t.own : nil)).map { .alive(a, incarnation: $0, meta: MT.meta("a")) }, t.name)
            XCTAssertEqual(out.changes, [], t.name)
        }
    }

    func test_refutation_shouldRideOnTheNextMessage_andInPushPull() throws {
        var m = MT.joined(others: ["b"])
        _ = m.hear([suspect(a, 0)], now: MT.ms(1))
        let ack = try XCTUnwrap(m.receive(.ping(seq: 4, from: b1, replyTo: MT.endpoint("b"), target: a, gossip: []),
                                          now: MT.ms(2)).acks.first)
        XCTAssertEqual(ack.gossip.first, alive(a, 1))
        let reply = try XCTUnwrap(m.receive(.pushPull(from: b1, replyTo: MT.endpoint("b"), isReply: false, isJoin: false,
                                                      states: []), now: MT.ms(3)).pushPulls.first)
        XCTAssertEqual(reply.states.first { $0.id == a }?.incarnation, 1)
    }

    func test_refutationInTheSameMessage_asTheSuspicion_shouldUseTheHighestIncarnation() {
        var m = MT.joined(others: ["b"])
        let out = m.hear([suspect(a, 0), suspect(a, 4, by: "d"), dead(a, 2)], now: MT.ms(1))
        XCTAssertEqual(out.refutations, [1, 5])
        XCTAssertEqual(m.incarnation, 5)
        XCTAssertEqual(m.broadcasts.pending(about: "a"), alive(a, 5))
        XCTAssertEqual(m.localHealth, 2)
    }

    // MARK: Retransmission

    func test_rumour_shouldRideOnAtMostLambdaLogNMessages() {
        struct Case { var others: Int, limit: Int }
        // retransmitMultiplier 4 × ceil(log10(N + 1)), N counting this node.
        let cases = [Case(others: 1, limit: 4), Case(others: 8, limit: 4), Case(others: 9, limit: 8),
                     Case(others: 40, limit: 8)]
        for t in cases {
            let names = (0..<t.others).map { "n\($0)" }
            var m = MT.joined(others: names)
            XCTAssertEqual(m.retransmitLimit, t.limit, "\(t.others + 1) members")
            while m.broadcasts.count > 0 { _ = m.piggyback() }
            _ = m.hear([.suspect(MT.id("n0"), incarnation: 0, by: "z")], now: MT.ms(1))
            var carried = 0
            for i in 0..<(t.limit + 3) {
                let out = m.receive(.ping(seq: UInt32(i + 1), from: MT.id("n0"), replyTo: "r:1", target: a, gossip: []),
                                    now: MT.ms(2))
                if out.acks.first?.gossip.contains(where: { $0.subject.name == "n0" }) == true { carried += 1 }
            }
            XCTAssertEqual(carried, t.limit, "\(t.others + 1) members")
        }
    }

    func test_piggyback_shouldCarryAtMostMaxPiggybackRumours() {
        var s = MT.quiet
        s.maxPiggyback = 3
        var m = MT.joined(others: ["b", "c", "d", "e", "f"], settings: s)
        let out = m.receive(.ping(seq: 1, from: b1, replyTo: "r:1", target: a, gossip: []), now: MT.ms(1))
        XCTAssertEqual(out.acks.first?.gossip.count, 3)
    }
}

/// Incarnations come off the wire as any UInt32.
final class MembershipIncarnationLimitTests: XCTestCase {
    private let a = MT.id("a")

    func test_onSuspect_aboutSelf_atMaximumIncarnation_shouldNotTrap() throws {
        var m = MT.joined(others: ["b"])
        // A peer may send any UInt32: at the top of the range there is nothing to outbid, so it is ignored.
        _ = m.hear([.suspect(a, incarnation: .max, by: "b")], now: MT.ms(1))
        XCTAssertEqual(m.status(of: "a"), .alive)
    }

    func test_leave_atMaximumIncarnation_shouldNotTrap() throws {
        var m = MT.joined(others: ["b"])
        _ = m.hear([.suspect(a, incarnation: .max - 1, by: "b")], now: MT.ms(1))
        XCTAssertEqual(m.incarnation, .max)
        _ = m.leave(now: MT.ms(2))
        XCTAssertTrue(m.hasLeft)
    }
}
