import XCTest
@testable import KithCore

/// The probe cycle (SWIM 4.1, 4.3) with Lifeguard's local health and nacks.
final class MembershipProbeTests: XCTestCase {
    private let a = MT.id("a")
    private let fourOthers = ["b", "c", "d", "e"]

    /// A node that knows `others` and has just sent its first ping, at `t0`.
    private func firstProbe(others: [String] = ["b", "c", "d", "e"], settings: MembershipSettings = MT.quiet,
                            raiseHealthBy health: Int = 0, seed: UInt64 = 7,
                            file: StaticString = #filePath, line: UInt = #line) throws
        -> (node: Membership, t0: Instant, ping: MTPing) {
        var m = MT.joined(others: others, settings: settings, seed: seed)
        for i in 0..<health {
            _ = m.hear([.suspect(a, incarnation: UInt32(i), by: "b")], now: .zero)
        }
        XCTAssertEqual(m.localHealth, min(health, settings.maxLocalHealth), file: file, line: line)
        let t0 = try XCTUnwrap(m.nextDeadline, file: file, line: line)
        let out = m.tick(now: t0)
        XCTAssertEqual(out.pings.count, 1, "one ping per period", file: file, line: line)
        return (m, t0, try XCTUnwrap(out.pings.first, file: file, line: line))
    }

    // MARK: Direct probe

    func test_tick_atFirstDeadline_shouldPingOneActiveMember() throws {
        var m = MT.joined(others: fourOthers)
        let t0 = try XCTUnwrap(m.nextDeadline)
        XCTAssertLessThan(t0, MT.ms(200), "the first probe is jittered within one period")
        if t0 > .zero {
            XCTAssertEqual(m.tick(now: t0 + .nanoseconds(-1)).pings, [], "nothing before the deadline")
        }
        let out = m.tick(now: t0)
        let ping = try XCTUnwrap(out.pings.first)
        XCTAssertEqual(out.pings.count, 1)
        XCTAssertEqual(out.pingReqs, [])
        XCTAssertEqual(ping.from, a)
        XCTAssertEqual(ping.replyTo, MT.endpoint("a"))
        XCTAssertTrue(fourOthers.contains(ping.target.name))
        XCTAssertEqual(ping.target, MT.id(ping.target.name), "the target's current boot")
        XCTAssertEqual(ping.to, MT.endpoint(ping.target.name))
        XCTAssertNotEqual(ping.seq, 0, "seq 0 is reserved for acks that answer no probe")
        XCTAssertEqual(m.nextDeadline, t0 + .milliseconds(100), "next: the probe timeout")
    }

    func test_probes_shouldVisitEveryActiveMember_onceEachRound() throws {
        var m = MT.joined(others: fourOthers)
        for _ in 0..<3 {
            var round: [String] = []
            for _ in fourOthers {
                var ping: MTPing?
                while ping == nil {
                    let t = try XCTUnwrap(m.nextDeadline)
                    ping = m.tick(now: t).pings.first
                    if let p = ping {
                        _ = m.receive(.ack(seq: p.seq, from: p.target, gossip: []), now: t + .milliseconds(1))
                    }
                }
                round.append(ping!.target.name)
            }
            XCTAssertEqual(round.sorted(), fourOthers, "round-robin: each member once per round")
        }
        XCTAssertEqual(m.localHealth, 0)
        XCTAssertTrue(m.members.allSatisfy { $0.status == .alive })
    }

    func test_pings_shouldUseFreshSeqs() throws {
        var m = MT.joined(others: fourOthers)
        var seqs: [UInt32] = []
        for _ in 0..<8 {
            let t = try XCTUnwrap(m.nextDeadline)
            for p in m.tick(now: t).pings {
                seqs.append(p.seq)
                _ = m.receive(.ack(seq: p.seq, from: p.target, gossip: []), now: t)
            }
        }
        XCTAssertEqual(seqs.count, 8)
        XCTAssertEqual(Set(seqs).count, seqs.count)
    }

    // MARK: Acks

    func test_onAck_onlyWithMatchingSeqFromTheTarget_shouldClearProbe_andLowerLocalHealth() throws {
        struct Case { var name: String, seqDelta: UInt32, from: (NodeID) -> NodeID, clears: Bool }
        let cases = [
            Case(name: "right seq from the target", seqDelta: 0, from: { $0 }, clears: true),
            Case(name: "wrong seq from the target", seqDelta: 1000, from: { $0 }, clears: false),
            Case(name: "right seq from another member", seqDelta: 0,
                 from: { MT.id($0.name == "b" ? "c" : "b") }, clears: false),
            Case(name: "right seq from an earlier boot of the target", seqDelta: 0,
                 from: { NodeID(name: $0.name, uid: 0) }, clears: false),
        ]
        for t in cases {
            var (m, t0, ping) = try firstProbe(raiseHealthBy: 2)
            _ = m.receive(.ack(seq: ping.seq &+ t.seqDelta, from: t.from(ping.target), gossip: []),
                          now: t0 + .milliseconds(10))
            XCTAssertEqual(m.localHealth, t.clears ? 1 : 2, t.name)
            // Health 2 at ping time: timeout 300 ms, period 600 ms.
            let indirect = m.tick(now: t0 + .milliseconds(300))
            XCTAssertEqual(indirect.pingReqs.count, t.clears ? 0 : 3, t.name)
            let end = m.tick(now: t0 + .milliseconds(600))
            XCTAssertEqual(end.changes(of: ping.target.name).map(\.member.status), t.clears ? [] : [.suspect], t.name)
            XCTAssertEqual(m.status(of: ping.target.name), t.clears ? .alive : .suspect, t.name)
        }
    }

    func test_onAck_whenHealthy_shouldKeepLocalHealthAtZero() throws {
        var (m, t0, ping) = try firstProbe()
        _ = m.receive(.ack(seq: ping.seq, from: ping.target, gossip: []), now: t0)
        XCTAssertEqual(m.localHealth, 0)
    }

    // MARK: Indirect probes

    func test_probe_withoutAckByProbeTimeout_shouldSendPingReqs_toUpToKHelpers() throws {
        struct Case { var others: [String], expected: Int }
        let cases = [Case(others: ["b"], expected: 0), Case(others: ["b", "c"], expected: 1),
                     Case(others: ["b", "c", "d"], expected: 2), Case(others: ["b", "c", "d", "e"], expected: 3),
                     Case(others: ["b", "c", "d", "e", "f", "g"], expected: 3)]
        for t in cases {
            var (m, t0, ping) = try firstProbe(others: t.others)
            XCTAssertEqual(m.tick(now: t0 + .milliseconds(100) + .nanoseconds(-1)).pingReqs, [], "\(t.others)")
            let reqs = m.tick(now: t0 + .milliseconds(100)).pingReqs
            XCTAssertEqual(reqs.count, t.expected, "\(t.others.count) others")
            XCTAssertEqual(Set(reqs.map(\.to)).count, reqs.count, "distinct helpers")
            for req in reqs {
                XCTAssertNotEqual(req.to, ping.to, "the target is no helper")
                XCTAssertTrue(t.others.map(MT.endpoint).contains(req.to))
                XCTAssertEqual(req.seq, ping.seq, "the helper answers with the probe's seq")
                XCTAssertEqual(req.from, a)
                XCTAssertEqual(req.replyTo, MT.endpoint("a"))
                XCTAssertEqual(req.target, ping.target)
                XCTAssertEqual(req.targetEndpoint, ping.to)
            }
            XCTAssertEqual(m.nextDeadline, t0 + .milliseconds(200), "next: the end of the period")
        }
    }

    func test_pingReqs_shouldGoOnlyToAliveHelpers() throws {
        var (m, t0, ping) = try firstProbe()
        let others = fourOthers.filter { $0 != ping.target.name }
        _ = m.hear([.suspect(MT.id(others[0]), incarnation: 0, by: "z"),
                    .suspect(MT.id(others[1]), incarnation: 0, by: "z")], now: t0 + .milliseconds(1))
        let reqs = m.tick(now: t0 + .milliseconds(100)).pingReqs
        XCTAssertEqual(reqs.map(\.to), [MT.endpoint(others[2])])
    }

    func test_indirectProbes_setting_shouldBoundTheHelpers() throws {
        for k in [0, 1, 2, 5] {
            var s = MT.quiet
            s.indirectProbes = k
            var (m, t0, _) = try firstProbe(others: ["b", "c", "d", "e", "f", "g", "h"], settings: s)
            XCTAssertEqual(m.tick(now: t0 + .milliseconds(100)).pingReqs.count, k)
        }
    }

    func test_relayedAck_fromTheTarget_shouldClearTheProbe() throws {
        var (m, t0, ping) = try firstProbe()
        _ = m.tick(now: t0 + .milliseconds(100))
        // A helper forwards the target's ack with our seq and the target as `from`.
        _ = m.receive(.ack(seq: ping.seq, from: ping.target, gossip: []), now: t0 + .milliseconds(150))
        let end = m.tick(now: t0 + .milliseconds(200))
        XCTAssertEqual(end.changes, [])
        XCTAssertEqual(m.status(of: ping.target.name), .alive)
        XCTAssertEqual(m.localHealth, 0)
    }

    // MARK: Failure

    func test_probe_withoutAnyAckByPeriodEnd_shouldSuspectTarget_andPiggybackTheSuspicion() throws {
        var (m, t0, ping) = try firstProbe()
        let target = ping.target
        _ = m.tick(now: t0 + .milliseconds(100))
        XCTAssertEqual(m.tick(now: t0 + .milliseconds(200) + .nanoseconds(-1)).changes, [], "not before the period ends")
        XCTAssertEqual(m.status(of: target.name), .alive)

        let end = m.tick(now: t0 + .milliseconds(200))
        let suspected = Member(id: target, meta: MT.meta(target.name), status: .suspect, incarnation: 0,
                               changedAt: t0 + .milliseconds(200))
        XCTAssertEqual(end.changes, [MTChange(member: suspected, previous: .alive)])
        XCTAssertEqual(m.member(named: target.name), suspected)

        let rumour = Gossip.suspect(target, incarnation: 0, by: "a")
        XCTAssertEqual(m.broadcasts.pending(about: target.name), rumour)
        // The next period's ping (same tick) carries it, newest first.
        let next = try XCTUnwrap(end.pings.first)
        XCTAssertNotEqual(next.target, target, "round-robin moves on")
        XCTAssertEqual(next.gossip.first, rumour)
        // So does an ack to anyone who pings us.
        let pinger = fourOthers.first { $0 != target.name }!
        let reply = m.receive(.ping(seq: 41, from: MT.id(pinger), replyTo: MT.endpoint(pinger), target: a, gossip: []),
                              now: t0 + .milliseconds(201))
        XCTAssertEqual(reply.acks.count, 1)
        XCTAssertTrue(reply.acks.first?.gossip.contains(rumour) ?? false)
    }

    func test_failedProbe_ofASuspect_shouldNotRestartItsSuspicion() throws {
        var m = MT.joined(others: ["b"])
        _ = m.hear([.suspect(MT.id("b"), incarnation: 0, by: "z")], now: .zero)
        let started = try XCTUnwrap(m.suspicions["b"]).startedAt
        let t0 = try XCTUnwrap(m.nextDeadline)
        XCTAssertEqual(m.tick(now: t0).pings.map(\.target), [MT.id("b")], "a suspect is still probed")
        let end = m.tick(now: t0 + .milliseconds(200))
        XCTAssertEqual(end.changes, [])
        XCTAssertEqual(m.suspicions["b"]?.startedAt, started)
    }

    func test_buddySystem_pingToASuspect_shouldCarryItsSuspicionFirst() throws {
        var m = MT.joined(others: fourOthers)
        // Suspect everyone; later rumours are newer, so without the buddy rule
        // the newest would ride first on every ping.
        for name in fourOthers { _ = m.hear([.suspect(MT.id(name), incarnation: 0, by: "z")], now: .zero) }
        var seen: Set<String> = []
        for _ in fourOthers {
            let t = try XCTUnwrap(m.nextDeadline)
            let out = m.tick(now: t)
            let ping = try XCTUnwrap(out.pings.first)
            XCTAssertEqual(ping.gossip.first, .suspect(ping.target, incarnation: 0, by: "z"), "ping to \(ping.target)")
            seen.insert(ping.target.name)
            _ = m.receive(.ack(seq: ping.seq, from: ping.target, gossip: []), now: t)
        }
        XCTAssertEqual(seen, Set(fourOthers))
    }

    func test_buddySystem_suspectedTarget_shouldRefuteInItsAck_andBeAliveAgain() throws {
        var a = MT.joined("a", others: ["b"])
        var b = MT.joined("b", others: ["a"])
        _ = a.hear([.suspect(MT.id("b"), incarnation: 0, by: "z")], now: .zero)
        let t0 = try XCTUnwrap(a.nextDeadline)
        let ping = try XCTUnwrap(a.tick(now: t0).pings.first)
        let answer = b.receive(.ping(seq: ping.seq, from: ping.from, replyTo: ping.replyTo, target: ping.target,
                                     gossip: ping.gossip), now: t0)
        XCTAssertEqual(answer.refutations, [1])
        let ack = try XCTUnwrap(answer.acks.first)
        XCTAssertEqual(ack.to, MT.endpoint("a"))
        XCTAssertEqual(ack.gossip.first, MT.alive("b", 1), "the refutation rides on the ack")
        let applied = a.receive(.ack(seq: ack.seq, from: ack.from, gossip: ack.gossip), now: t0)
        XCTAssertEqual(applied.changes(of: "b").map(\.previous), [.suspect])
        XCTAssertEqual(a.member(named: "b")?.status, .alive)
        XCTAssertEqual(a.member(named: "b")?.incarnation, 1)
        XCTAssertNil(a.suspicions["b"])
    }

    // MARK: Lifeguard local health

    func test_failedProbe_missingNacks_shouldRaiseLocalHealth() throws {
        struct Case { var name: String, others: [String], nacks: Int, seqDelta: UInt32 = 0, expected: Int }
        let cases = [
            Case(name: "no helpers: +1", others: ["b"], nacks: 0, expected: 1),
            Case(name: "1 helper, silent: +1", others: ["b", "c"], nacks: 0, expected: 1),
            Case(name: "3 helpers, silent: +3", others: fourOthers, nacks: 0, expected: 3),
            Case(name: "3 helpers, 2 nacks: +1", others: fourOthers, nacks: 2, expected: 1),
            Case(name: "3 helpers, 3 nacks: the target is dead, not us", others: fourOthers, nacks: 3, expected: 0),
            Case(name: "nacks for another seq do not count", others: fourOthers, nacks: 3, seqDelta: 99, expected: 3),
        ]
        for t in cases {
            var (m, t0, ping) = try firstProbe(others: t.others)
            let reqs = m.tick(now: t0 + .milliseconds(100)).pingReqs
            for req in reqs.prefix(t.nacks) {
                let helper = String(req.to.prefix { $0 != ":" })
                _ = m.receive(.nack(seq: ping.seq &+ t.seqDelta, from: MT.id(helper)), now: t0 + .milliseconds(150))
            }
            _ = m.tick(now: t0 + .milliseconds(200))
            XCTAssertEqual(m.localHealth, t.expected, t.name)
            XCTAssertEqual(m.status(of: ping.target.name), .suspect, t.name)
        }
    }

    func test_localHealth_shouldScaleTheProbeTimeoutAndPeriod() throws {
        struct Case { var raise: Int, multiplier: Int64 }
        let cases = [Case(raise: 0, multiplier: 1), Case(raise: 1, multiplier: 2), Case(raise: 3, multiplier: 4),
                     Case(raise: 8, multiplier: 9), Case(raise: 12, multiplier: 9 /* capped at maxLocalHealth 8 */)]
        for t in cases {
            // One other member: every probe goes to b and no helper is asked.
            var (m, t0, _) = try firstProbe(others: ["b"], raiseHealthBy: t.raise)
            let timeout = Duration.milliseconds(100 * t.multiplier)
            let period = Duration.milliseconds(200 * t.multiplier)
            XCTAssertEqual(m.nextDeadline, t0 + timeout, "health \(m.localHealth): indirect stage")
            _ = m.tick(now: t0 + timeout)
            XCTAssertEqual(m.nextDeadline, t0 + period, "health \(m.localHealth): period end")
            XCTAssertEqual(m.tick(now: t0 + period + .nanoseconds(-1)).pings, [])
            XCTAssertEqual(m.tick(now: t0 + period).pings.map(\.target), [MT.id("b")], "next ping one scaled period later")
        }
    }

    func test_localHealth_shouldNeverExceedItsMaximum_orGoBelowZero() throws {
        var s = MT.quiet
        s.maxLocalHealth = 2
        var (m, t0, _) = try firstProbe(others: fourOthers, settings: s, raiseHealthBy: 2)
        _ = m.runTimers(until: t0 + .seconds(3))   // every probe fails, +3 each
        XCTAssertEqual(m.localHealth, 2)
        var (n, u0, ping) = try firstProbe()
        _ = n.receive(.ack(seq: ping.seq, from: ping.target, gossip: []), now: u0)
        XCTAssertEqual(n.localHealth, 0)
    }

    // MARK: Relaying a ping-req

    private func helper() -> Membership { MT.joined("h", others: ["a", "x"]) }

    private func pingReq(seq: UInt32 = 77) -> Message {
        .pingReq(seq: seq, from: a, replyTo: "a-reply:1", target: MT.id("x"), targetEndpoint: MT.endpoint("x"),
                 gossip: [])
    }

    func test_onPingReq_shouldPingTheTarget_onTheOriginsBehalf() throws {
        var h = helper()
        let out = h.receive(pingReq(), now: MT.ms(50))
        let ping = try XCTUnwrap(out.pings.first)
        XCTAssertEqual(out.pings.count, 1)
        XCTAssertEqual(ping.to, MT.endpoint("x"))
        XCTAssertEqual(ping.target, MT.id("x"))
        XCTAssertEqual(ping.from, MT.id("h"))
        XCTAssertEqual(ping.replyTo, MT.endpoint("h"), "the target answers the helper")
        XCTAssertNotEqual(ping.seq, 0)
    }

    func test_onAckFromTheTarget_ofARelayedPing_shouldForwardIt_withTheOriginsSeq() throws {
        var h = helper()
        let ping = try XCTUnwrap(h.receive(pingReq(seq: 77), now: MT.ms(50)).pings.first)
        let out = h.receive(.ack(seq: ping.seq, from: MT.id("x"), gossip: []), now: MT.ms(60))
        XCTAssertEqual(out.acks.map { [$0.seq, $0.from.name, $0.to] as [AnyHashable] },
                       [[77 as UInt32, "x", "a-reply:1"]])
        XCTAssertEqual(h.receive(.ack(seq: ping.seq, from: MT.id("x"), gossip: []), now: MT.ms(61)).acks, [],
                       "forwarded once")
    }

    func test_relay_withoutAckWithin80PercentOfTheOriginsWindow_shouldNackTheOrigin_thenStillForwardALateAck() throws {
        var h = helper()
        let t = MT.ms(50)
        // The origin waits `interval - timeout` = 100 ms after asking; the helper nacks at 80 ms.
        let ping = try XCTUnwrap(h.receive(pingReq(seq: 77), now: t).pings.first)
        XCTAssertEqual(h.runTimers(from: t, until: t + .milliseconds(80) + .nanoseconds(-1)).nacks, [])
        XCTAssertEqual(h.nextDeadline, t + .milliseconds(80))
        let nacks = h.runTimers(from: t, until: t + .milliseconds(80)).nacks
        XCTAssertEqual(nacks, [MTNack(seq: 77, from: MT.id("h"), to: "a-reply:1")])
        let late = h.receive(.ack(seq: ping.seq, from: MT.id("x"), gossip: []), now: t + .milliseconds(150))
        XCTAssertEqual(late.acks.map(\.seq), [77], "a late ack still helps the origin")
        XCTAssertEqual(h.runTimers(from: t + .milliseconds(150), until: t + .seconds(1)).nacks, [], "one nack only")
    }

    func test_relay_afterTheProbePeriod_shouldForgetThePing() throws {
        var h = helper()
        let t = MT.ms(50)
        let ping = try XCTUnwrap(h.receive(pingReq(seq: 77), now: t).pings.first)
        XCTAssertEqual(h.runTimers(from: t, until: t + .milliseconds(200)).nacks.count, 1)
        XCTAssertTrue(h.relays.isEmpty)
        XCTAssertEqual(h.receive(.ack(seq: ping.seq, from: MT.id("x"), gossip: []), now: t + .milliseconds(201)).acks, [])
    }

    func test_onPingReq_aboutThisNode_orFromThisNode_shouldBeIgnored() {
        let cases: [(String, Message)] = [
            ("target is this node", .pingReq(seq: 5, from: a, replyTo: "a:1", target: MT.id("h"),
                                             targetEndpoint: MT.endpoint("h"), gossip: [])),
            ("from this node", .pingReq(seq: 5, from: MT.id("h"), replyTo: "h:1", target: MT.id("x"),
                                        targetEndpoint: MT.endpoint("x"), gossip: [])),
        ]
        for (name, message) in cases {
            var h = helper()
            XCTAssertEqual(h.receive(message, now: MT.ms(50)).sends.count, 0, name)
            XCTAssertTrue(h.relays.isEmpty, name)
        }
    }

    // MARK: Answering pings

    func test_onPing_forThisBoot_shouldReplyWithAck_carryingPendingGossip() throws {
        var m = MT.joined(others: ["b", "c"])
        let out = m.receive(.ping(seq: 9, from: MT.id("b"), replyTo: "b-reply:1", target: a, gossip: []), now: MT.ms(5))
        let ack = try XCTUnwrap(out.acks.first)
        XCTAssertEqual(out.sends.count, 1)
        XCTAssertEqual(ack.seq, 9)
        XCTAssertEqual(ack.from, a)
        XCTAssertEqual(ack.to, "b-reply:1", "answers replyTo, not the member's listed endpoint")
        XCTAssertEqual(Set(ack.gossip), [MT.alive("b"), MT.alive("c"), MT.alive("a")], "a node also announces itself")
    }

    func test_onPing_fromAnUnknownBoot_shouldAck_andStartAPushPullWithIt() throws {
        var m = MT.joined(others: ["b"])
        let stranger = MT.id("z")
        let out = m.receive(.ping(seq: 3, from: stranger, replyTo: "z-reply:1", target: a, gossip: []), now: MT.ms(5))
        XCTAssertEqual(out.acks.map(\.to), ["z-reply:1"])
        XCTAssertEqual(out.pushPulls.map(\.to), ["z-reply:1"], "a lost join reply costs one round trip")
        let known = m.receive(.ping(seq: 4, from: MT.id("b"), replyTo: "b-reply:1", target: a, gossip: []), now: MT.ms(6))
        XCTAssertEqual(known.pushPulls.count, 0)
    }

    func test_onPing_forAnotherBootOfThisName_shouldNotAck_butStillApplyGossip() {
        let me = MT.id("a", uid: 5)
        struct Case { var name: String, from: NodeID, target: NodeID, acks: Bool }
        let cases = [
            Case(name: "this boot", from: MT.id("b"), target: me, acks: true),
            Case(name: "an earlier boot", from: MT.id("b"), target: MT.id("a", uid: 4), acks: false),
            Case(name: "a later boot", from: MT.id("b"), target: MT.id("a", uid: 6), acks: false),
            Case(name: "another name", from: MT.id("b"), target: MT.id("q", uid: 5), acks: false),
            Case(name: "from this very node", from: me, target: me, acks: false),
        ]
        for t in cases {
            var m = MT.joined("a", uid: 5, others: ["b"])
            let out = m.receive(.ping(seq: 3, from: t.from, replyTo: "r:1", target: t.target, gossip: [MT.alive("c")]),
                                now: MT.ms(5))
            XCTAssertEqual(out.acks.map(\.seq), t.acks ? [3] : [], t.name)
            XCTAssertEqual(m.status(of: "c"), .alive, "\(t.name): gossip is applied anyway")
        }
    }

    // MARK: Timing of nacks against the origin's period

    /// With a 1 ms one-way delay and healthy helpers, the helpers' nacks should
    /// reach the origin before its probe period ends, so a healthy origin whose
    /// target really died keeps local health 0 (Lifeguard IV.A).
    func test_nacksFromHealthyHelpers_shouldArriveBeforeTheOriginGivesUp() throws {
        let latency = Duration.milliseconds(1)
        var origin = MT.joined("a", others: ["h1", "h2", "h3", "x"])
        var helpers = ["h1", "h2", "h3"].map { name in
            (name, MT.joined(name, others: ["a", "h1", "h2", "h3", "x"].filter { $0 != name }))
        }
        // Let the round-robin reach x, answering every other ping at once.
        var ping: MTPing?
        var tx = Instant.zero
        for _ in 0..<8 {
            tx = try XCTUnwrap(origin.nextDeadline)
            guard let p = origin.tick(now: tx).pings.first else { continue }
            if p.target.name == "x" { ping = p; break }
            _ = origin.receive(.ack(seq: p.seq, from: p.target, gossip: []), now: tx + latency + latency)
        }
        let probe = try XCTUnwrap(ping)
        XCTAssertEqual(origin.localHealth, 0)
        // x is silent. Indirect stage:
        let reqs = origin.tick(now: tx + .milliseconds(100)).pingReqs
        XCTAssertEqual(reqs.count, 3)
        var nackArrivals: [Instant] = []
        var nackers: [String] = []
        for req in reqs {
            let i = helpers.firstIndex { MT.endpoint($0.0) == req.to }!
            let arrival = tx + .milliseconds(100) + latency
            _ = helpers[i].1.receive(.pingReq(seq: req.seq, from: req.from, replyTo: req.replyTo, target: req.target,
                                              targetEndpoint: req.targetEndpoint, gossip: []), now: arrival)
            while let d = helpers[i].1.nextDeadline, d <= tx + .seconds(1) {
                if helpers[i].1.tick(now: d).nacks.contains(where: { $0.seq == probe.seq }) {
                    nackArrivals.append(d + latency)
                    nackers.append(helpers[i].0)
                    break
                }
            }
        }
        XCTAssertEqual(nackArrivals.count, 3, "every helper nacks")
        // Replay the origin's events in time order.
        let deadline = tx + .milliseconds(200)
        var events: [(at: Instant, nacker: String?)] = zip(nackArrivals, nackers).map { ($0, $1) } + [(deadline, nil)]
        events.sort { ($0.at, $0.nacker == nil ? 1 : 0) < ($1.at, $1.nacker == nil ? 1 : 0) }  // nacks win ties
        for event in events {
            if let nacker = event.nacker {
                _ = origin.receive(.nack(seq: probe.seq, from: MT.id(nacker)), now: event.at)
            } else {
                _ = origin.tick(now: event.at)
            }
        }
        // A helper nacks at 80% of the origin's remaining window, so a healthy
        // origin counts every nack and its local health stays 0 (Lifeguard IV.A).
        XCTAssertLessThan(nackArrivals.max()!, deadline, "nacks arrive at \(nackArrivals), origin gives up at \(deadline)")
        XCTAssertEqual(origin.localHealth, 0)
    }
}
