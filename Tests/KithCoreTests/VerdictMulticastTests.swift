import XCTest
@testable import KithCore

/// Verdicts and refutations told to every member at once, stale
/// suspicions answered with the newer alive (`Membership+Confirm.swift`),
/// and a probe of a suspect that always tells it (`Membership+Probe.swift`).
final class VerdictMulticastTests: XCTestCase {
    private let start = MT.ms(1000)

    func test_ownVerdict_shouldBeSentToEveryActiveMember_once() throws {
        var m = MT.joined(others: ["b", "c", "d", "e"])
        _ = m.hear([.dead(MT.id("e"), incarnation: 0, by: "c")], now: start)
        _ = m.hear([.suspect(MT.id("b"), incarnation: 0, by: "c")], now: start)
        let deadline = try XCTUnwrap(m.suspicions["b"]?.deadline)
        let out = m.tick(now: deadline)
        XCTAssertEqual(out.changes(of: "b").map(\.member.status), [.dead])
        let verdict = Gossip.dead(MT.id("b"), incarnation: 0, by: "a")
        let told = out.acks.filter { $0.seq == 0 && $0.gossip == [verdict] }
        XCTAssertEqual(told.map(\.to), ["c", "d"].map(MT.endpoint), "the living, not the dead b and e, nor a itself")
        XCTAssertEqual(m.broadcasts.pending(about: "b"), verdict, "and gossiped for whoever the message misses")
        XCTAssertEqual(m.tick(now: deadline + .seconds(1)).acks.filter { $0.seq == 0 }, [], "once")
    }

    func test_heardVerdict_shouldNotBeSentToEveryone() {
        var m = MT.joined(others: ["b", "c", "d"])
        let out = m.hear([.dead(MT.id("b"), incarnation: 0, by: "c")], now: start)
        XCTAssertEqual(out.changes(of: "b").map(\.member.status), [.dead])
        XCTAssertEqual(out.acks, [], "only gossip: the verdict's author told everyone")
    }

    func test_refutation_shouldBeSentToEveryActiveMember() {
        var m = MT.joined(others: ["b", "c", "d"])
        for (rumour, incarnation) in [(Gossip.suspect(MT.id("a"), incarnation: 0, by: "b"), UInt32(1)),
                                      (.dead(MT.id("a"), incarnation: 1, by: "c"), 2)] {
            let out = m.hear([rumour], now: start)
            XCTAssertEqual(out.refutations, [incarnation])
            let alive = Gossip.alive(MT.id("a"), incarnation: incarnation, meta: m.meta)
            XCTAssertEqual(out.acks.filter { $0.seq == 0 && $0.gossip == [alive] }.map(\.to),
                           ["b", "c", "d"].map(MT.endpoint), "\(rumour)")
        }
    }

    /// b refuted at incarnation 1; c's suspicion at 0 reaches us late. We
    /// answer it with b's alive at 1, first on our ack, so c stops suspecting.
    func test_staleSuspicion_shouldBeAnsweredWithTheNewerAlive() throws {
        let cases: [(String, Gossip)] = [
            ("stale suspect", .suspect(MT.id("b"), incarnation: 0, by: "c")),
            ("stale dead", .dead(MT.id("b"), incarnation: 0, by: "c")),
        ]
        for (name, stale) in cases {
            var m = MT.joined(others: ["b", "c", "d"])
            _ = m.hear([MT.alive("b", 1)], now: start)
            m.broadcasts = Broadcasts()  // b's alive has been told enough
            let out = m.receive(.ping(seq: 9, from: MT.id("c"), replyTo: MT.endpoint("c"), target: m.me, gossip: [stale]),
                                now: start + .milliseconds(10))
            XCTAssertEqual(m.status(of: "b"), .alive, name)
            let ack = try XCTUnwrap(out.acks.first { $0.seq == 9 }, name)
            XCTAssertEqual(ack.gossip.first, MT.alive("b", 1), "\(name): the correction rides on the answer")
        }
    }

    func test_currentSuspicion_orOneAboutAnEarlierBoot_shouldNotBeAnswered() {
        var m = MT.joined(others: ["b", "c", "d"])
        _ = m.hear([MT.alive("b", 1)], now: start)
        m.broadcasts = Broadcasts()
        _ = m.hear([.suspect(MT.id("b", uid: 0), incarnation: 0, by: "c")], now: start)
        XCTAssertNil(m.broadcasts.pending(about: "b"), "an earlier boot's suspicion is moot")
        _ = m.hear([.suspect(MT.id("b"), incarnation: 1, by: "c")], now: start)
        XCTAssertEqual(m.status(of: "b"), .suspect)
        XCTAssertEqual(m.broadcasts.pending(about: "b"), .suspect(MT.id("b"), incarnation: 1, by: "c"), "gossiped as usual")
    }

    /// Under 5% loss every member's queue had retired the suspicion before
    /// the suspect heard it; the probe now carries it from the table.
    func test_probeOfASuspect_shouldCarryItsSuspicion_evenOnceTheRumourLeftTheQueue() throws {
        var m = MT.joined(others: ["b"])
        _ = m.hear([.suspect(MT.id("b"), incarnation: 0, by: "c")], now: start)
        m.broadcasts = Broadcasts()
        let out = m.runTimers(from: start, until: start + .milliseconds(400))
        let ping = try XCTUnwrap(out.pings.first { $0.target == MT.id("b") })
        XCTAssertEqual(ping.gossip, [.suspect(MT.id("b"), incarnation: 0, by: "a")])
    }

    func test_refutation_inALargeCluster_shouldBeSentToAtMostTheFanOutBound() {
        let others = (1...100).map { "n\($0)" }
        var m = MT.joined(others: others)
        let out = m.hear([.suspect(MT.id("a"), incarnation: 0, by: "n1")], now: start)
        let alive = Gossip.alive(MT.id("a"), incarnation: 1, meta: m.meta)
        let told = out.acks.filter { $0.seq == 0 && $0.gossip == [alive] }.map(\.to)
        XCTAssertEqual(told.count, Membership.refutationFanOutMax)
        XCTAssertEqual(Set(told).count, told.count, "each member at most once")
        XCTAssertEqual(m.broadcasts.pending(about: "a"), alive, "gossip carries it to the rest")
    }
}
