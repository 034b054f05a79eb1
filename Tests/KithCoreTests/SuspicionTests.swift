import XCTest
@testable import KithCore

final class SuspicionTests: XCTestCase {
    private let second = Duration.seconds(1)
    private let sixSeconds = Duration.seconds(6)

    // MARK: Suspicion.timeout

    func test_timeout_table_shouldFallFromMaximumToMinimum() {
        struct Case { var c: Int, k: Int, min: Duration, max: Duration, expected: Duration, why: String }
        let cases: [Case] = [
            Case(c: 0, k: 2, min: second, max: sixSeconds, expected: sixSeconds, why: "no confirmation waits the maximum"),
            Case(c: 2, k: 2, min: second, max: sixSeconds, expected: second, why: "k confirmations wait the minimum"),
            Case(c: 7, k: 2, min: second, max: sixSeconds, expected: second, why: "more than k never goes below the minimum"),
            // 6 s - 5 s * ln 2 / ln 3 = 2.845351 s (hand-computed).
            Case(c: 1, k: 2, min: second, max: sixSeconds, expected: .nanoseconds(2_845_351_232), why: "one of two"),
            // 10 s - 9 s * ln 2 / ln 4 = 5.5 s exactly.
            Case(c: 1, k: 3, min: second, max: .seconds(10), expected: .milliseconds(5500), why: "log ratio 1/2"),
            Case(c: 0, k: 0, min: second, max: sixSeconds, expected: second, why: "k = 0 expects nothing: minimum"),
            Case(c: 3, k: 0, min: second, max: sixSeconds, expected: second, why: "k = 0 with confirmations: minimum"),
            Case(c: 0, k: 2, min: second, max: second, expected: second, why: "max == min"),
            Case(c: 0, k: 2, min: sixSeconds, max: second, expected: sixSeconds, why: "max < min gives the minimum"),
            Case(c: 0, k: -1, min: second, max: sixSeconds, expected: second, why: "negative k: minimum"),
        ]
        for t in cases {
            let got = Suspicion.timeout(confirmations: t.c, expected: t.k, minimum: t.min, maximum: t.max)
            XCTAssertLessThanOrEqual(abs(got.nanoseconds - t.expected.nanoseconds), 1_000,
                                     "c=\(t.c) k=\(t.k): \(t.why), got \(got)")
        }
    }

    func test_timeout_shouldDecreaseStrictly_witheachConfirmationUpToK() {
        for k in [1, 2, 3, 5, 10] {
            var previous = Duration.seconds(1000)
            for c in 0...k {
                let t = Suspicion.timeout(confirmations: c, expected: k, minimum: second, maximum: sixSeconds)
                XCTAssertLessThan(t, previous, "k=\(k) c=\(c)")
                XCTAssertGreaterThanOrEqual(t, second)
                XCTAssertLessThanOrEqual(t, sixSeconds)
                previous = t
            }
            XCTAssertEqual(previous, second, "k=\(k): reaches the minimum at k")
        }
    }

    func test_timeout_shouldShrinkLessWithEachLaterConfirmation() {
        // log(c+1) is concave: the first confirmation buys the most.
        let k = 5
        let values = (0...k).map {
            Suspicion.timeout(confirmations: $0, expected: k, minimum: second, maximum: sixSeconds).nanoseconds
        }
        let steps = zip(values, values.dropFirst()).map { $0 - $1 }
        for (earlier, later) in zip(steps, steps.dropFirst()) {
            XCTAssertGreaterThan(earlier, later, "steps \(steps)")
        }
    }

    // MARK: Suspicion value

    func test_confirm_shouldCountOnlyDistinctSuspecters_beyondTheFirst() {
        var s = Suspicion(incarnation: 0, startedAt: MT.ms(1000), minimum: second, maximum: sixSeconds,
                          expectedConfirmations: 2, suspecters: ["b"])
        XCTAssertEqual(s.confirmations, 0)
        XCTAssertEqual(s.deadline, MT.ms(7000))

        XCTAssertFalse(s.confirm(by: "b"), "the first suspecter again is no confirmation")
        XCTAssertEqual(s.confirmations, 0)
        XCTAssertEqual(s.deadline, MT.ms(7000))

        XCTAssertTrue(s.confirm(by: "c"))
        XCTAssertEqual(s.confirmations, 1)
        XCTAssertEqual(s.deadline, MT.ms(1000) + .nanoseconds(2_845_351_232))

        XCTAssertFalse(s.confirm(by: "c"), "a repeated confirmation is not independent")
        XCTAssertEqual(s.confirmations, 1)

        XCTAssertTrue(s.confirm(by: "d"))
        XCTAssertEqual(s.deadline, MT.ms(2000), "k confirmations: started + minimum")
    }
}

/// Lifeguard's dynamic suspicion inside the membership instance, and the
/// short suspicion of a refused connection.
final class MembershipSuspicionTests: XCTestCase {
    private let b = MT.id("b")
    private let start = MT.ms(1000)

    /// a, b, c, d, e with suspicion multiplier 4 (the default is 3): N = 5, so the minimum is
    /// 200 ms × 4 × max(1, log10 6) = 800 ms, the maximum 6 × 800 ms, and
    /// suspicionMultiplier − 2 = 2 confirmations are expected.
    private func fiveNodeCluster() -> Membership {
        var settings = MT.quiet
        settings.suspicionMultiplier = 4
        return MT.joined(others: ["b", "c", "d", "e"], settings: settings)
    }

    func test_suspicion_timeout_shouldShrinkWithIndependentConfirmations_andKillAtTheDeadline() throws {
        let oneOfTwo = Suspicion.timeout(confirmations: 1, expected: 2, minimum: .milliseconds(800),
                                         maximum: .milliseconds(4800))
        XCTAssertEqual(oneOfTwo.nanoseconds, 2_276_280_986, accuracy: 1_000, "4.8 s - 4 s × ln 2 / ln 3")
        struct Case { var suspecters: [String], timeout: Duration }
        let cases = [
            Case(suspecters: ["c"], timeout: .milliseconds(4800)),
            Case(suspecters: ["c", "c", "c"], timeout: .milliseconds(4800)),
            Case(suspecters: ["c", "d"], timeout: oneOfTwo),
            Case(suspecters: ["c", "d", "d", "c"], timeout: oneOfTwo),
            Case(suspecters: ["c", "d", "e"], timeout: .milliseconds(800)),
            Case(suspecters: ["c", "d", "e", "f", "g"], timeout: .milliseconds(800)),
        ]
        for t in cases {
            var m = fiveNodeCluster()
            for (i, name) in t.suspecters.enumerated() {
                _ = m.hear([.suspect(b, incarnation: 0, by: name)], now: start + .milliseconds(10 * i))
            }
            let deadline = start + t.timeout
            XCTAssertEqual(m.suspicions["b"]?.deadline, deadline, "\(t.suspecters)")
            XCTAssertLessThanOrEqual(try XCTUnwrap(m.nextDeadline), deadline, "the shell is woken in time")

            let before = m.tick(now: deadline + .nanoseconds(-1))
            XCTAssertEqual(before.changes(of: "b"), [], "\(t.suspecters): not before the deadline")
            XCTAssertEqual(m.status(of: "b"), .suspect)

            let at = m.tick(now: deadline)
            let dead = Member(id: b, meta: MT.meta("b"), status: .dead, incarnation: 0, changedAt: deadline)
            XCTAssertEqual(at.changes(of: "b"), [MTChange(member: dead, previous: .suspect)], "\(t.suspecters)")
            XCTAssertEqual(m.member(named: "b"), dead)
            XCTAssertNil(m.suspicions["b"])
            XCTAssertEqual(m.broadcasts.pending(about: "b"), .dead(b, incarnation: 0, by: "a"), "the death is told")
        }
    }

    func test_suspicion_minimum_shouldGrowWithLogClusterSize() throws {
        struct Case { var members: Int }
        for t in [Case(members: 2), Case(members: 9), Case(members: 10), Case(members: 21), Case(members: 100)] {
            let names = (1..<t.members).map { "n\($0)" }
            var m = MT.joined(others: names)
            _ = m.hear([.suspect(MT.id("n1"), incarnation: 0, by: "n2")], now: start)
            let minimumMs = 200 * 3 * max(1, log10(Double(t.members + 1)))
            let s = try XCTUnwrap(m.suspicions["n1"])
            XCTAssertEqual(Double(s.minimum.nanoseconds) / 1e6, minimumMs, accuracy: 0.001, "N = \(t.members)")
            XCTAssertEqual(Double(s.maximum.nanoseconds) / 1e6, 6 * minimumMs, accuracy: 0.001, "N = \(t.members)")
            // 3 - 2 = 1 confirmation; a cluster too small to supply it expects none (memberlist's rule).
            XCTAssertEqual(s.expectedConfirmations, t.members - 2 < 1 ? 0 : 1, "N = \(t.members)")
        }
    }

    func test_refutation_beforeTheDeadline_shouldCancelTheSuspicion() throws {
        var m = fiveNodeCluster()
        _ = m.hear([.suspect(b, incarnation: 0, by: "c")], now: start)
        let deadline = try XCTUnwrap(m.suspicions["b"]?.deadline)
        _ = m.hear([MT.alive("b", 1)], now: start + .milliseconds(100))
        XCTAssertNil(m.suspicions["b"])
        XCTAssertEqual(m.tick(now: deadline).changes(of: "b"), [])
        XCTAssertEqual(m.status(of: "b"), .alive)
    }

    func test_deadRumour_beforeTheDeadline_shouldEndTheSuspicion_withoutASecondDeath() throws {
        var m = fiveNodeCluster()
        _ = m.hear([.suspect(b, incarnation: 0, by: "c")], now: start)
        let deadline = try XCTUnwrap(m.suspicions["b"]?.deadline)
        let out = m.hear([.dead(b, incarnation: 0, by: "c")], now: start + .milliseconds(100))
        XCTAssertEqual(out.changes(of: "b").map(\.member.status), [.dead])
        XCTAssertEqual(m.tick(now: deadline).changes(of: "b"), [])
    }

    // MARK: Refused connections

    func test_peerRefused_forAnAliveMember_shouldSuspectItShortly_thenDeclareItDead() throws {
        var m = fiveNodeCluster()
        let out = m.peerRefused(MT.endpoint("b"), now: start)
        XCTAssertEqual(out.changes(of: "b").map(\.previous), [.alive])
        XCTAssertEqual(out.changes(of: "b").first?.member.status, .suspect)
        XCTAssertEqual(m.broadcasts.pending(about: "b"), .suspect(b, incarnation: 0, by: "a"))
        let deadline = start + .milliseconds(300)
        XCTAssertEqual(m.suspicions["b"]?.deadline, deadline)
        XCTAssertEqual(m.tick(now: deadline + .nanoseconds(-1)).changes(of: "b"), [])
        XCTAssertEqual(m.tick(now: deadline).changes(of: "b").map(\.member.status), [.dead])
        XCTAssertEqual(m.broadcasts.pending(about: "b"), .dead(b, incarnation: 0, by: "a"))
    }

    func test_peerRefused_forASuspect_shouldShortenALongerSuspicion_only() throws {
        struct Case { var name: String, suspecters: [String], refusedAfter: Duration, deadline: Duration }
        let cases = [
            // 4.8 s suspicion; refused at +1 s: dead at +1.3 s.
            Case(name: "long suspicion", suspecters: ["c"], refusedAfter: .seconds(1), deadline: .milliseconds(1300)),
            // 0.8 s suspicion (fully confirmed); refused at +0.7 s: keep +0.8 s, not +1.0 s.
            Case(name: "already shorter", suspecters: ["c", "d", "e"], refusedAfter: .milliseconds(700),
                 deadline: .milliseconds(800)),
        ]
        for t in cases {
            var m = fiveNodeCluster()
            for name in t.suspecters { _ = m.hear([.suspect(b, incarnation: 0, by: name)], now: start) }
            XCTAssertEqual(m.peerRefused(MT.endpoint("b"), now: start + t.refusedAfter), [], t.name)
            XCTAssertEqual(m.suspicions["b"]?.deadline, start + t.deadline, t.name)
            XCTAssertEqual(m.tick(now: start + t.deadline + .nanoseconds(-1)).changes(of: "b"), [], t.name)
            XCTAssertEqual(m.tick(now: start + t.deadline).changes(of: "b").map(\.member.status), [.dead], t.name)
        }
    }

    func test_peerRefused_forAnEndpointWithNoActiveMember_shouldDoNothing() {
        let cases: [(String, [Gossip], Endpoint)] = [
            ("unknown endpoint", [], "nowhere:1"),
            ("this node's own endpoint", [], MT.endpoint("a")),
            ("a dead member", [.dead(MT.id("b"), incarnation: 0, by: "c")], MT.endpoint("b")),
            ("a left member", [MT.left(MT.id("b"), incarnation: 0)], MT.endpoint("b")),
        ]
        for (name, before, endpoint) in cases {
            var m = fiveNodeCluster()
            _ = m.hear(before, now: start)
            let statuses = m.members.map(\.status)
            XCTAssertEqual(m.peerRefused(endpoint, now: start + .milliseconds(1)), [], name)
            XCTAssertEqual(m.members.map(\.status), statuses, name)
        }
    }

    func test_peerRefused_whenAnotherNameOnceListenedThere_shouldStillSuspectTheAliveMember() {
        // A node "old-i" died at x-i:1 and "new-i" was started on the same
        // address; then "new-i" crashes and the shell reports a refusal.
        var missed: [Int] = []
        for i in 0..<50 {
            var m = MT.joined(others: ["c"])
            let address = "x-\(i):1"
            _ = m.hear([.alive(MT.id("old-\(i)"), incarnation: 0, meta: NodeMeta(endpoint: address).credentialed(as: "old-\(i)")),
                        .dead(MT.id("old-\(i)"), incarnation: 0, by: "c"),
                        .alive(MT.id("new-\(i)"), incarnation: 0, meta: NodeMeta(endpoint: address).credentialed(as: "new-\(i)"))],
                       now: start)
            _ = m.peerRefused(address, now: start + .milliseconds(1))
            if m.status(of: "new-\(i)") != .suspect { missed.append(i) }
        }
        // Regression: the lookup once took the first record at that endpoint, dead or not, so
        // the alive member was suspected only sometimes (and differently per process).
        XCTAssertEqual(missed, [], "alive member at a shared endpoint not suspected in trials \(missed)")
    }

    func test_peerRefused_afterLeave_shouldDoNothing() {
        var m = fiveNodeCluster()
        _ = m.leave(now: start)
        XCTAssertEqual(m.peerRefused(MT.endpoint("b"), now: start), [])
    }
}
