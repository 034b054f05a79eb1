import XCTest
@testable import KithCore

/// A node speaks only for itself: `left` only with the member's own
/// signature, a member's key only with the operator's certificate (or, in a
/// cluster without certificates, the key first pinned for its name), and an
/// agent's checkpoints only from its host. Everything refused is counted and
/// reported; nothing is evicted, invented or replaced.
final class NodeAuthorityTests: XCTestCase {
    private let b = MT.id("b")

    private func forged(_ directives: [MembershipDirective]) -> [(what: String, subject: String, from: String)] {
        directives.compactMap {
            if case let .forgedRefused(what, subject, from, _) = $0 { (what, subject, from) } else { nil }
        }
    }

    // MARK: left

    func test_left_withoutTheMembersSignature_shouldBeRefusedAndCounted() {
        let mallory = TagNodeVerifier(name: "mallory")
        let rumours: [(String, Gossip)] = [
            ("unsigned", .left(b, incarnation: 1)),
            ("signed by another member", .left(b, incarnation: 1, signature: mallory.sign(NodeStatement.left(b)))),
            ("b's signature for another boot", .left(b, incarnation: 1,
                                                     signature: TagNodeVerifier(name: "b").sign(NodeStatement.left(MT.id("b", uid: 2))))),
            ("b's signature under another secret", .left(b, incarnation: 1,
                                                         signature: TagNodeVerifier(name: "b", secret: 1).sign(NodeStatement.left(b)))),
        ]
        for (name, rumour) in rumours {
            var m = MT.joined(others: ["b", "c"])
            let out = m.hear([rumour], from: "mallory", now: MT.ms(1))
            XCTAssertEqual(m.member(named: "b")?.status, .alive, name)
            XCTAssertEqual(out.changes, [], name)
            XCTAssertEqual(forged(out).map(\.what), ["left"], name)
            XCTAssertEqual(forged(out).map(\.from), ["mallory"], name)
            XCTAssertEqual(m.forgedRefused, 1, name)
            XCTAssertNil(m.piggyback().first { if case .left = $0 { true } else { false } }, "\(name): not passed on")
        }
    }

    func test_left_inPushPull_withoutTheMembersSignature_shouldBeRefused_andWithIt_learned() {
        var m = MT.joined(others: ["b", "c"])
        let unsigned = MemberState(id: b, meta: MT.meta("b"), status: .left, incarnation: 3)
        let out = m.receive(.pushPull(from: MT.id("c"), replyTo: MT.endpoint("c"), isReply: true, isJoin: false,
                                      states: [unsigned]), now: MT.ms(1))
        XCTAssertEqual(m.member(named: "b")?.status, .alive)
        XCTAssertEqual(forged(out).map(\.from), ["c"])

        var signed = unsigned
        if case let .left(_, _, signature) = MT.left(b, incarnation: 0) { signed.signature = signature }
        _ = m.receive(.pushPull(from: MT.id("c"), replyTo: MT.endpoint("c"), isReply: true, isJoin: false, states: [signed]),
                      now: MT.ms(2))
        XCTAssertEqual(m.member(named: "b")?.status, .left, "b's own goodbye holds at any incarnation a relay reports")
        XCTAssertEqual(m.member(named: "b")?.incarnation, 3)
    }

    func test_leave_shouldSpreadAGoodbyeThatEveryOtherNodeAccepts_evenRelayed() {
        var a = MT.joined("a", others: ["b", "c"])
        let goodbye = a.leave(now: MT.ms(1)).acks.first!.gossip
        var c = MT.joined("c", others: ["a", "b"])
        _ = c.hear(goodbye, from: "a", now: MT.ms(2))
        XCTAssertEqual(c.member(named: "a")?.status, .left)
        // c passes it on in push-pull; b checks a's signature, not c's.
        guard case let .pushPull(_, _, _, _, states)? = c.pushPull(isReply: false, isJoin: false) as Message? else {
            return XCTFail("no push-pull")
        }
        var b = MT.joined("b", others: ["a", "c"])
        _ = b.receive(.pushPull(from: MT.id("c"), replyTo: MT.endpoint("c"), isReply: true, isJoin: false, states: states),
                      now: MT.ms(3))
        XCTAssertEqual(b.member(named: "a")?.status, .left)
        XCTAssertEqual(b.forgedRefused, 0)
    }

    // MARK: keys and certificates

    func test_alive_withAKeyOtherThanThePinnedOne_andNoValidCertificate_shouldBeRefused() {
        var m = MT.joined(others: ["b"])
        var stolen = MT.meta("b")
        stolen.key = Array("mallory".utf8)
        let out = m.hear([.alive(b, incarnation: 5, meta: stolen)], from: "mallory", now: MT.ms(1))
        XCTAssertEqual(m.member(named: "b")?.incarnation, 0, "nothing changed")
        XCTAssertEqual(m.member(named: "b")?.meta.key, Array("b".utf8))
        XCTAssertEqual(forged(out).map(\.what), ["alive"])

        // A new key with the operator's certificate replaces the pin (a re-keyed node).
        var rekeyed = MT.meta("b")
        rekeyed.key = Array("b-new".utf8)
        rekeyed.certificate = TagNodeVerifier(name: "a").certificate(name: "b", key: rekeyed.key)
        _ = m.hear([.alive(b, incarnation: 6, meta: rekeyed)], now: MT.ms(2))
        XCTAssertEqual(m.member(named: "b")?.meta.key, Array("b-new".utf8))
        XCTAssertEqual(m.pinnedKeys["b"], Array("b-new".utf8))
    }

    func test_fakeMember_withoutACertificate_shouldNotBeLearned_inACertifiedCluster() {
        var m = MT.joined(others: ["b"])
        let fakes = (0..<5).map { MemberState(id: MT.id("fake\($0)"), meta: NodeMeta(endpoint: "x:\($0)"), status: .alive,
                                               incarnation: 0) }
        let out = m.receive(.pushPull(from: MT.id("mallory"), replyTo: "x:1", isReply: true, isJoin: false, states: fakes),
                            now: MT.ms(1))
        XCTAssertEqual(m.members.map(\.id.name), ["a", "b"], "no member invented")
        XCTAssertEqual(forged(out).count, 5)
        XCTAssertEqual(m.forgedRefused, 5)
    }

    func test_withoutCertificates_theFirstKeySeenIsPinned_andAnotherOneRefused() {
        let trusting = TagNodeVerifier(name: "a", requiresCertificates: false)
        var m = Membership(me: MT.id("a"), meta: NodeMeta(endpoint: MT.endpoint("a")), seeds: [], settings: MT.quiet,
                           randomSeed: 7, verifier: trusting, now: .zero)
        XCTAssertEqual(m.meta.certificate, [], "no certificate to announce")
        let first = NodeMeta(endpoint: MT.endpoint("b"), key: Array("b".utf8))
        _ = m.hear([.alive(b, incarnation: 0, meta: first)], now: MT.ms(1))
        XCTAssertEqual(m.member(named: "b")?.status, .alive)
        var other = first
        other.key = Array("mallory".utf8)
        let out = m.hear([.alive(MT.id("b", uid: 2), incarnation: 0, meta: other)], from: "mallory", now: MT.ms(2))
        XCTAssertEqual(m.member(named: "b")?.id.uid, 1, "a new boot with another key does not replace the pinned one")
        XCTAssertEqual(forged(out).map(\.what), ["alive"])
        let keyless = m.hear([.alive(MT.id("k"), incarnation: 0, meta: NodeMeta(endpoint: "k:1"))], now: MT.ms(3))
        XCTAssertNil(m.member(named: "k"), "a member must announce a key")
        XCTAssertEqual(forged(keyless).map(\.what), ["alive"])
    }

    // MARK: checkpoints

    func test_checkpoint_fromANodeThatIsNotTheHost_shouldBeRefusedAndCounted_andNothingReplaced() {
        var registry = AT.registry("n3", members: AT.view(AT.nodes(3)))
        _ = registry.merge([AT.record("a", host: "n1")], now: AT.ms(1))
        let genuine = AT.checkpoint(generation: 1, seq: 1, data: [1], host: "n1")
        XCTAssertEqual(registry.receive(AT.checkpointMessage(genuine, from: "n1"), now: AT.ms(2)).sentMessages.count, 1)

        var claimedHost = AT.checkpoint(generation: 1, seq: 9, data: [6, 6, 6], host: "n2")
        claimedHost.host = "n1"  // n2's signature, n1's name
        let attempts: [(String, Message)] = [
            ("signed by a member that is not the host",
             AT.checkpointMessage(AT.checkpoint(generation: 1, seq: 9, data: [6], host: "n2"), from: "n2")),
            ("the host's name with another member's signature", AT.checkpointMessage(claimedHost, from: "n2")),
            ("unsigned", .checkpoint(from: AT.id("n2"), replyTo: AT.endpoint("n2"), agent: "a", generation: 1, seq: 9, data: [6],
                                     host: "n1")),
            ("the host's signature over other bytes", {
                var altered = AT.checkpoint(generation: 1, seq: 9, data: [1], host: "n1")
                altered.data = [6]
                return AT.checkpointMessage(altered, from: "n2")
            }()),
        ]
        for (index, (name, message)) in attempts.enumerated() {
            let out = registry.receive(message, now: AT.ms(3))
            XCTAssertEqual(out.forged, ["checkpoint"], name)
            XCTAssertEqual(out.sentMessages.count, 0, "\(name): not acknowledged")
            XCTAssertEqual(registry.checkpoints["a"], genuine, "\(name): nothing replaced")
            XCTAssertEqual(registry.forgedRefused, UInt64(index + 1))
        }
        let unknownHost = AT.checkpointMessage(AT.checkpoint(generation: 0, seq: 9, data: [6], host: "n9"), from: "n2")
        XCTAssertEqual(registry.receive(unknownHost, now: AT.ms(4)), [], "a host without a known key: not held, not acknowledged")
        XCTAssertEqual(registry.checkpoints["a"], genuine)
    }

    func test_checkpoint_relayedByAnotherNode_shouldBeHeld_withTheHostsSignature() {
        var registry = AT.registry("n3", members: AT.view(AT.nodes(3)))
        _ = registry.merge([AT.record("a", generation: 2, host: "n1")], now: AT.ms(1))
        let older = AT.checkpoint(generation: 1, seq: 4, data: [4], host: "n2")  // n2 hosted generation 1
        let out = registry.receive(AT.checkpointMessage(older, from: "n1"), now: AT.ms(2))
        XCTAssertEqual(out.forged, [])
        XCTAssertEqual(registry.checkpoints["a"], older, "an earlier generation's checkpoint, signed by its host, is held")
        XCTAssertEqual(registry.forgedRefused, 0)
    }

    func test_aNewMember_isHandedCheckpointsWithTheHostsSignatureUnchanged() throws {
        var registry = AT.registry("n1", members: AT.view(["n1", "n2", "n3"]))
        _ = try registry.start(AT.spec("a"), on: "n1", now: AT.ms(1))
        _ = try registry.checkpoint("a", data: [7], now: AT.ms(2))
        let out = registry.updateView(AT.view(AT.nodes(4)), now: AT.ms(3))
        let handed = out.sentMessages.compactMap { sent -> (String, [UInt8])? in
            if case let .checkpoint(_, _, _, _, _, _, host, signature) = sent.message { (host, signature) } else { nil }
        }
        XCTAssertEqual(handed.map(\.0), ["n1"])
        XCTAssertEqual(handed.map(\.1), [AT.checkpoint(generation: 1, seq: 1, data: [7], host: "n1").signature])
    }
}
