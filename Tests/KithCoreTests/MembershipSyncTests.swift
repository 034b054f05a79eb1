import XCTest
@testable import KithCore

/// Push-pull sync, joining through seeds, reconnecting to the dead, reaping,
/// and the graceful leave.
final class MembershipSyncTests: XCTestCase {
    private let a = MT.id("a")
    private let b = MT.id("b")
    private let seeds = ["s1:1", MT.endpoint("a"), "s2:1"]

    private func states(of m: Membership) -> [MemberState] {
        m.members.sorted { $0.id < $1.id }.map {
            MemberState(id: $0.id, meta: $0.meta, status: $0.status, incarnation: $0.incarnation)
        }
    }

    private func reply(from name: String, states: [MemberState]) -> Message {
        .pushPull(from: MT.id(name), replyTo: MT.endpoint(name), isReply: true, isJoin: false, states: states)
    }

    private func joins(_ directives: [MembershipDirective]) -> [MTPushPull] { directives.pushPulls.filter(\.isJoin) }

    // MARK: Joining

    func test_start_withSeeds_shouldSendAJoinPushPull_toEverySeed_butNeverItsOwnEndpoint() {
        var m = MT.node(seeds: seeds)
        let out = m.start(now: .zero)
        let own = [MT.aliveState("a")]
        XCTAssertEqual(out.pushPulls, [
            MTPushPull(from: a, replyTo: MT.endpoint("a"), isReply: false, isJoin: true, states: own, to: "s1:1"),
            MTPushPull(from: a, replyTo: MT.endpoint("a"), isReply: false, isJoin: true, states: own, to: "s2:1"),
        ])
        XCTAssertFalse(out.sends.contains { $0.to == MT.endpoint("a") })
    }

    func test_start_withOnlyItsOwnEndpointAsSeed_shouldSendNothing() {
        var m = MT.node(seeds: [MT.endpoint("a")])
        XCTAssertEqual(m.start(now: .zero).sends.count, 0)
        XCTAssertEqual(m.runTimers(until: MT.ms(5000)).sends.count, 0)
    }

    func test_join_withoutAReply_shouldRetryEveryJoinRetryInterval() throws {
        var m = MT.node(seeds: seeds)
        _ = m.start(now: .zero)
        XCTAssertLessThanOrEqual(try XCTUnwrap(m.nextDeadline), MT.ms(500))
        XCTAssertEqual(joins(m.tick(now: MT.ms(499))), [])
        let timed = m.runTimersTimed(until: MT.ms(2000), answering: false)
        let joinTimes = timed.filter { if case .send(.pushPull(_, _, _, true, _), _) = $0.directive { true } else { false } }
            .map(\.at)
        XCTAssertEqual(joinTimes, [500, 500, 1000, 1000, 1500, 1500, 2000, 2000].map(MT.ms))
    }

    func test_join_afterAReply_shouldStopRetrying() throws {
        var m = MT.node(seeds: seeds)
        _ = m.start(now: .zero)
        XCTAssertFalse(m.hasJoined)
        let out = m.receive(reply(from: "b", states: [MT.aliveState("b"), MT.aliveState("a")]), now: MT.ms(200))
        XCTAssertTrue(m.hasJoined)
        XCTAssertEqual(out.sends.count, 0, "a reply is not answered")
        XCTAssertEqual(out.changes.map(\.member.id), [b])
        let later = m.runTimersTimed(from: MT.ms(200), until: MT.ms(3000), answering: true).map(\.directive)
        XCTAssertEqual(joins(later), [])
        XCTAssertFalse(later.sends.contains { seeds.contains($0.to) })
    }

    func test_join_whenEveryOtherMemberIsGone_shouldContactTheSeedsAgain() throws {
        var m = MT.node(seeds: seeds)
        _ = m.start(now: .zero)
        _ = m.receive(reply(from: "b", states: [MT.aliveState("b")]), now: MT.ms(200))
        // b stays silent; its suspicion cannot end before 780 ms (probe ≥ 200, fail + 200, minimum 380 ms).
        XCTAssertEqual(joins(m.runTimers(from: MT.ms(200), until: MT.ms(700))), [], "joined, and b answers nothing but is not dead yet")
        _ = m.hear([.dead(b, incarnation: 0, by: "z")], now: MT.ms(1300))
        XCTAssertLessThanOrEqual(try XCTUnwrap(m.nextDeadline), MT.ms(1300), "the join timer is due again")
        let timed = m.runTimersTimed(from: MT.ms(1300), until: MT.ms(1900), answering: false)
            .filter { if case .send(.pushPull(_, _, _, true, _), _) = $0.directive { true } else { false } }
        XCTAssertEqual(timed.map(\.at), [1300, 1300, 1800, 1800].map(MT.ms))
        XCTAssertEqual(timed.map(\.directive).pushPulls.map(\.to), ["s1:1", "s2:1", "s1:1", "s2:1"])
    }

    // MARK: Answering push-pull

    func test_onPushPull_notAReply_shouldAnswerWithFullState_asAReply() throws {
        var m = MT.joined(others: ["b", "c", "d"])
        _ = m.hear([.suspect(MT.id("c"), incarnation: 0, by: "b"), .dead(MT.id("d"), incarnation: 0, by: "b")],
                   now: MT.ms(1))
        for isJoin in [true, false] {
            let out = m.receive(.pushPull(from: MT.id("e"), replyTo: "e-reply:1", isReply: false, isJoin: isJoin,
                                          states: [MT.aliveState("e")]), now: MT.ms(2))
            let answer = try XCTUnwrap(out.pushPulls.first)
            XCTAssertEqual(out.pushPulls.count, 1)
            XCTAssertEqual(answer.to, "e-reply:1")
            XCTAssertEqual(answer.from, a)
            XCTAssertEqual(answer.replyTo, MT.endpoint("a"))
            XCTAssertTrue(answer.isReply)
            XCTAssertFalse(answer.isJoin)
            XCTAssertEqual(answer.states, states(of: m), "everything known, the sender included")
            XCTAssertEqual(answer.states.map(\.status), [.alive, .alive, .suspect, .dead, .alive])
        }
    }

    func test_onPushPull_reply_orFromItself_shouldNotBeAnswered() {
        var m = MT.joined(others: ["b"])
        XCTAssertEqual(m.receive(reply(from: "b", states: []), now: MT.ms(1)).sends.count, 0)
        let own = m.receive(.pushPull(from: a, replyTo: MT.endpoint("a"), isReply: false, isJoin: true,
                                      states: [MT.aliveState("x")]), now: MT.ms(1))
        XCTAssertEqual(own, [])
        XCTAssertNil(m.member(named: "x"), "this node's own echo is ignored whole")
    }

    // MARK: Merging

    func test_merge_table() {
        struct Case {
            var name: String
            var before: [Gossip]
            var remote: MemberState
            var status: MemberStatus?
            var uid: UInt64 = 1
            var incarnation: UInt32 = 0
        }
        func state(_ status: MemberStatus, _ incarnation: UInt32 = 0, uid: UInt64 = 1) -> MemberState {
            var state = MemberState(id: MT.id("b", uid: uid), meta: MT.meta("b"), status: status, incarnation: incarnation)
            if status == .left, case let .left(_, _, signature) = MT.left(state.id, incarnation: incarnation) {
                state.signature = signature  // b's own goodbye
            }
            return state
        }
        let cases = [
            Case(name: "a new alive member is added", before: [], remote: state(.alive, 2), status: .alive, incarnation: 2),
            Case(name: "a remote dead for a member alive here is only a suspicion", before: [MT.alive("b")],
                 remote: state(.dead), status: .suspect),
            Case(name: "a remote dead at a higher incarnation is a suspicion at it", before: [MT.alive("b")],
                 remote: state(.dead, 3), status: .suspect, incarnation: 3),
            Case(name: "a remote dead at a lower incarnation is stale", before: [MT.alive("b", 4)],
                 remote: state(.dead, 3), status: .alive, incarnation: 4),
            Case(name: "a remote dead about an unknown member is not learned", before: [], remote: state(.dead),
                 status: nil),
            Case(name: "a remote dead about an unseen later boot is not learned", before: [MT.alive("b")],
                 remote: state(.dead, uid: 2), status: .alive, uid: 1),
            Case(name: "a remote suspect about an unknown member is learned, still suspect", before: [],
                 remote: state(.suspect, 1), status: .suspect, incarnation: 1),
            Case(name: "a remote suspect for a member alive here is a suspicion", before: [MT.alive("b")],
                 remote: state(.suspect), status: .suspect),
            Case(name: "a remote alive at a higher incarnation refutes a local suspicion",
                 before: [MT.alive("b"), .suspect(b, incarnation: 0, by: "z")], remote: state(.alive, 1),
                 status: .alive, incarnation: 1),
            Case(name: "a remote alive at a higher incarnation revives the dead",
                 before: [MT.alive("b"), .dead(b, incarnation: 0, by: "z")], remote: state(.alive, 1),
                 status: .alive, incarnation: 1),
            Case(name: "a remote alive of a later boot replaces a dead record",
                 before: [MT.alive("b", 5), .dead(b, incarnation: 5, by: "z")], remote: state(.alive, uid: 2),
                 status: .alive, uid: 2),
            Case(name: "a remote left is learned for a known member", before: [MT.alive("b")], remote: state(.left, 1),
                 status: .left, incarnation: 1),
            Case(name: "a remote left about an unknown member is not learned", before: [], remote: state(.left),
                 status: nil),
            Case(name: "a remote alive about an earlier boot is ignored", before: [MT.alive("b", uid: 2)],
                 remote: state(.alive, 9, uid: 1), status: .alive, uid: 2),
        ]
        for t in cases {
            var m = MT.joined(others: ["c"])
            _ = m.hear(t.before, now: MT.ms(1))
            _ = m.receive(.pushPull(from: MT.id("c"), replyTo: MT.endpoint("c"), isReply: true, isJoin: false,
                                    states: [t.remote]), now: MT.ms(2))
            let got = m.member(named: "b")
            XCTAssertEqual(got?.status, t.status, t.name)
            if t.status != nil {
                XCTAssertEqual(got?.id.uid, t.uid, t.name)
                XCTAssertEqual(got?.incarnation, t.incarnation, t.name)
            }
        }
    }

    func test_merge_remoteDead_shouldSuspectInTheSendersName() throws {
        var m = MT.joined(others: ["b", "c"])
        let out = m.receive(reply(from: "c", states: [MemberState(id: b, meta: MT.meta("b"), status: .dead,
                                                                  incarnation: 0)]), now: MT.ms(5))
        XCTAssertEqual(out.changes(of: "b").map(\.previous), [.alive])
        XCTAssertEqual(m.suspicions["b"]?.suspecters, ["c"])
        XCTAssertEqual(m.broadcasts.pending(about: "b"), .suspect(b, incarnation: 0, by: "c"))
    }

    func test_merge_aboutThisNode_deadOrSuspect_shouldRefute() {
        for status in [MemberStatus.suspect, .dead] {
            var m = MT.joined(others: ["b"])
            let out = m.receive(reply(from: "b", states: [MemberState(id: a, meta: MT.meta("a"), status: status,
                                                                      incarnation: 2)]), now: MT.ms(5))
            XCTAssertEqual(out.refutations, [3], "\(status)")
            XCTAssertEqual(m.status(of: "a"), .alive)
        }
    }

    func test_merge_newMembers_shouldBeReportedAsNewlyLearned() {
        var m = MT.joined(others: [])
        let out = m.receive(reply(from: "b", states: [MT.aliveState("b"), MT.aliveState("c", incarnation: 4)]),
                            now: MT.ms(5))
        XCTAssertEqual(out.changes, [
            MTChange(member: Member(id: b, meta: MT.meta("b"), status: .alive, incarnation: 0, changedAt: MT.ms(5)),
                     previous: nil),
            MTChange(member: Member(id: MT.id("c"), meta: MT.meta("c"), status: .alive, incarnation: 4,
                                    changedAt: MT.ms(5)), previous: nil),
        ])
        XCTAssertEqual(m.members.map(\.id.name), ["a", "b", "c"])
    }

    // MARK: Periodic push-pull

    func test_tick_everyPushPullInterval_shouldSyncWithOneActiveMember() {
        var s = MT.quiet
        s.pushPullInterval = .seconds(15)
        var m = MT.joined(others: ["b", "c"], settings: s)
        _ = m.hear([.dead(MT.id("c"), incarnation: 0, by: "z")], now: MT.ms(1))
        let syncs = m.runTimersTimed(from: MT.ms(1), until: MT.ms(46_000), answering: true)
            .filter { if case .send(.pushPull, _) = $0.directive { true } else { false } }
        // Every period is jittered by ±10% so that nodes started together do not sync in lock-step.
        XCTAssertEqual(syncs.count, 3)
        XCTAssertEqual(syncs.first?.at, MT.ms(15_000), "the first period is not jittered")
        for (earlier, later) in zip(syncs, syncs.dropFirst()) {
            let gap = later.at.since(earlier.at)
            XCTAssertTrue(gap >= .milliseconds(13_500) && gap <= .milliseconds(16_500), "gap \(gap)")
        }
        for sync in syncs.map(\.directive).pushPulls {
            XCTAssertEqual(sync.to, MT.endpoint("b"), "only active members")
            XCTAssertFalse(sync.isReply)
            XCTAssertFalse(sync.isJoin)
            XCTAssertEqual(sync.states.count, 3)
        }
    }

    func test_pushPullPeriod_shouldGrowWithLog2OfClusterSizeBeyond32() {
        let cases: [(members: Int, seconds: Int64)] = [(2, 15), (32, 15), (33, 30), (64, 30), (65, 45), (200, 60)]
        for t in cases {
            let m = MT.joined(others: (1..<t.members).map { "n\($0)" }, settings: .lan)
            XCTAssertEqual(m.pushPullPeriod, .seconds(t.seconds), "\(t.members) members")
        }
    }

    // MARK: Reconnecting to the dead

    private var reconnecting: MembershipSettings {
        var s = MT.quiet
        s.reconnectInterval = .seconds(1)
        return s
    }

    func test_tick_withADeadMember_shouldPushPullToItEveryReconnectInterval() {
        var m = MT.joined(others: ["b", "c"], settings: reconnecting)
        _ = m.hear([.dead(b, incarnation: 0, by: "z")], now: MT.ms(500))
        let timed = m.runTimersTimed(from: MT.ms(500), until: MT.ms(3500), answering: true)
        let syncs = timed.filter { if case .send(.pushPull, _) = $0.directive { true } else { false } }
        XCTAssertEqual(syncs.count, 3)
        for (sync, nominal) in zip(syncs, [1000, 2000, 3000]) {
            let slack = 100 * (nominal / 1000 - 1)  // ±10% per jittered period after the first
            XCTAssertTrue(sync.at >= MT.ms(nominal - slack) && sync.at <= MT.ms(nominal + slack), "\(sync.at)")
        }
        XCTAssertEqual(syncs.map(\.directive).pushPulls.map(\.to), Array(repeating: MT.endpoint("b"), count: 3))
        XCTAssertTrue(syncs.map(\.directive).pushPulls.allSatisfy { !$0.isReply && !$0.isJoin })
    }

    func test_tick_withoutDeadMembers_shouldNotReconnect_andWithSeveral_contactOnePerInterval() {
        var quiet = MT.joined(others: ["b", "c"], settings: reconnecting)
        XCTAssertEqual(quiet.runTimersTimed(until: MT.ms(3500), answering: true).map(\.directive).pushPulls, [])

        var m = MT.joined(others: ["b", "c", "d"], settings: reconnecting)
        _ = m.hear([.dead(b, incarnation: 0, by: "z"), .dead(MT.id("c"), incarnation: 0, by: "z")], now: MT.ms(500))
        let syncs = m.runTimersTimed(from: MT.ms(500), until: MT.ms(20_500), answering: true)
            .filter { if case .send(.pushPull, _) = $0.directive { true } else { false } }
        XCTAssertTrue((18...22).contains(syncs.count), "one per jittered second: \(syncs.count)")
        XCTAssertEqual(Set(syncs.map(\.directive).pushPulls.map(\.to)), [MT.endpoint("b"), MT.endpoint("c")],
                       "the random pick reaches both")
    }

    func test_reconnect_afterAPartition_shouldBringTheWronglyDeadBack() throws {
        var a = MT.joined("a", others: ["b"], settings: reconnecting)
        var b = MT.joined("b", others: ["a"], settings: reconnecting)
        _ = a.hear([.dead(self.b, incarnation: 0, by: "z")], now: MT.ms(500))
        let sync = try XCTUnwrap(a.tick(now: MT.ms(1000)).pushPulls.first { $0.to == MT.endpoint("b") })
        let answer = b.receive(.pushPull(from: sync.from, replyTo: sync.replyTo, isReply: sync.isReply,
                                         isJoin: sync.isJoin, states: sync.states), now: MT.ms(1001))
        XCTAssertEqual(answer.refutations, [1], "b learns it was declared dead and refutes")
        let back = try XCTUnwrap(answer.pushPulls.first)
        XCTAssertTrue(back.isReply)
        let merged = a.receive(.pushPull(from: back.from, replyTo: back.replyTo, isReply: back.isReply,
                                         isJoin: back.isJoin, states: back.states), now: MT.ms(1002))
        XCTAssertEqual(merged.changes(of: "b").map(\.previous), [.dead])
        XCTAssertEqual(a.member(named: "b")?.status, .alive)
        XCTAssertEqual(a.member(named: "b")?.incarnation, 1)
    }

    // MARK: Reaping

    func test_reap_shouldForgetDeadAndLeftMembers_afterDeadRetention_notBefore() {
        var s = reconnecting
        s.deadRetention = .seconds(10)
        var m = MT.joined(others: ["b", "c", "d", "e"], settings: s)
        _ = m.hear([.dead(b, incarnation: 0, by: "z"), MT.left(MT.id("c"), incarnation: 0)], now: MT.ms(500))
        _ = m.hear([.suspect(MT.id("e"), incarnation: 0, by: "z")], now: MT.ms(500))
        // Keep e suspect (not dead) throughout: refresh its suspicion before it expires.
        for t in stride(from: 1000, through: 10_000, by: 1000) {
            _ = m.runTimersTimed(from: MT.ms(t - 1000), until: MT.ms(t), answering: true)
            _ = m.hear([.suspect(MT.id("e"), incarnation: UInt32(t / 1000), by: "z")], now: MT.ms(t))
        }
        // Reaping runs each reconnect interval: at 10 s the dead are 9.5 s old.
        XCTAssertEqual(m.members.map(\.id.name), ["a", "b", "c", "d", "e"])
        _ = m.runTimersTimed(from: MT.ms(10_000), until: MT.ms(11_000), answering: true)
        XCTAssertEqual(m.members.map(\.id.name), ["a", "d", "e"], "10.5 s old: forgotten")
        XCTAssertNil(m.broadcasts.pending(about: "b"))
        XCTAssertNil(m.broadcasts.pending(about: "c"))
        XCTAssertNil(m.suspicions["b"])
    }

    func test_reap_shouldMeasureRetention_fromTheStatusChange() {
        var s = reconnecting
        s.deadRetention = .seconds(3)
        var m = MT.joined(others: ["b"], settings: s)
        _ = m.hear([.dead(b, incarnation: 0, by: "z")], now: MT.ms(100))
        _ = m.hear([.dead(b, incarnation: 0, by: "y")], now: MT.ms(2500))   // repeated news does not renew
        _ = m.runTimersTimed(from: MT.ms(2500), until: MT.ms(3000), answering: true)
        XCTAssertNotNil(m.member(named: "b"))
        _ = m.runTimersTimed(from: MT.ms(3000), until: MT.ms(4000), answering: true)
        XCTAssertNil(m.member(named: "b"))
    }

    func test_reapedMember_shouldNotBeRelearned_fromItsOwnDeathNotice() {
        var s = reconnecting
        s.deadRetention = .seconds(2)
        var m = MT.joined(others: ["b", "c"], settings: s)
        _ = m.hear([.dead(b, incarnation: 0, by: "z")], now: MT.ms(100))
        _ = m.runTimersTimed(from: MT.ms(100), until: MT.ms(3000), answering: true)
        XCTAssertNil(m.member(named: "b"))
        _ = m.hear([.dead(b, incarnation: 0, by: "z")], now: MT.ms(3001))
        _ = m.receive(reply(from: "c", states: [MemberState(id: b, meta: MT.meta("b"), status: .dead, incarnation: 0)]),
                      now: MT.ms(3002))
        XCTAssertNil(m.member(named: "b"))
    }

    // MARK: Leaving

    func test_leave_shouldMarkSelfLeft_raiseIncarnation_andTellEveryActiveMember() {
        var m = MT.joined(others: ["b", "c", "d", "e"])
        _ = m.hear([.suspect(MT.id("c"), incarnation: 0, by: "z"), .dead(MT.id("d"), incarnation: 0, by: "z"),
                    MT.left(MT.id("e"), incarnation: 0)], now: MT.ms(1))
        let out = m.leave(now: MT.ms(50))
        XCTAssertEqual(m.incarnation, 1)
        XCTAssertTrue(m.hasLeft)
        var me = Member(id: a, meta: MT.meta("a"), status: .left, incarnation: 1, changedAt: MT.ms(50))
        if case let .left(_, _, signature) = MT.left(a, incarnation: 1) { me.leftSignature = signature }
        XCTAssertEqual(out.changes, [MTChange(member: me, previous: .alive)])
        XCTAssertEqual(m.member(named: "a"), me)
        let goodbye = [MT.left(a, incarnation: 1)]
        XCTAssertEqual(out.acks, [MTAck(seq: 0, from: a, gossip: goodbye, to: MT.endpoint("b")),
                                  MTAck(seq: 0, from: a, gossip: goodbye, to: MT.endpoint("c"))],
                       "alive and suspect members hear it; the dead and the left do not")
        XCTAssertEqual(out.sends.count, 2)
    }

    func test_leave_afterARefutation_shouldGoOneAboveTheCurrentIncarnation() {
        var m = MT.joined(others: ["b"])
        _ = m.hear([.suspect(a, incarnation: 4, by: "b")], now: MT.ms(1))
        _ = m.leave(now: MT.ms(2))
        XCTAssertEqual(m.incarnation, 6)
        XCTAssertEqual(m.member(named: "a")?.incarnation, 6)
    }

    func test_afterLeave_everyInputShouldReturnNothing_andNextDeadlineIsNil() {
        var m = MT.joined(others: ["b", "c"])
        _ = m.hear([.dead(MT.id("c"), incarnation: 0, by: "z")], now: MT.ms(1))
        _ = m.leave(now: MT.ms(10))
        XCTAssertNil(m.nextDeadline)
        let inputs: [(String, (inout Membership) -> [MembershipDirective])] = [
            ("start", { $0.start(now: MT.ms(20)) }),
            ("tick", { $0.tick(now: MT.ms(20_000)) }),
            ("ping", { $0.receive(.ping(seq: 1, from: self.b, replyTo: "b:1", target: self.a, gossip: []), now: MT.ms(20)) }),
            ("suspect about self", { $0.receive(.ack(seq: 0, from: self.b, gossip: [.suspect(self.a, incarnation: 9, by: "b")]),
                                                now: MT.ms(20)) }),
            ("pingReq", { $0.receive(.pingReq(seq: 1, from: self.b, replyTo: "b:1", target: MT.id("x"),
                                              targetEndpoint: "x:1", gossip: []), now: MT.ms(20)) }),
            ("nack", { $0.receive(.nack(seq: 1, from: self.b), now: MT.ms(20)) }),
            ("pushPull", { $0.receive(.pushPull(from: self.b, replyTo: "b:1", isReply: false, isJoin: true,
                                                states: [MT.aliveState("q")]), now: MT.ms(20)) }),
            ("peerRefused", { $0.peerRefused(MT.endpoint("b"), now: MT.ms(20)) }),
            ("leave again", { $0.leave(now: MT.ms(20)) }),
        ]
        for (name, input) in inputs {
            XCTAssertEqual(input(&m), [], name)
            XCTAssertNil(m.nextDeadline, name)
        }
        XCTAssertEqual(m.incarnation, 1)
        XCTAssertEqual(m.status(of: "a"), .left)
        XCTAssertNil(m.member(named: "q"))
    }

    func test_goodbye_shouldBeRecordedAsLeft_notDead_byTheReceiver() throws {
        var a = MT.joined("a", others: ["b"])
        var b = MT.joined("b", others: ["a"])
        let goodbye = try XCTUnwrap(a.leave(now: MT.ms(10)).acks.first)
        let out = b.receive(.ack(seq: goodbye.seq, from: goodbye.from, gossip: goodbye.gossip), now: MT.ms(11))
        XCTAssertEqual(out.changes(of: "a").map(\.previous), [.alive])
        XCTAssertEqual(b.member(named: "a")?.status, .left)
        XCTAssertEqual(b.member(named: "a")?.incarnation, 1)
        // Its probes no longer target the departed member.
        XCTAssertEqual(b.runTimers(from: MT.ms(11), until: MT.ms(5000)).pings, [])
    }
}
