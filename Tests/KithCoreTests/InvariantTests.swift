import XCTest
@testable import KithCore

/// The invariant checkers catch what must not happen, legal transitions are
/// the documented ones, and what a peer can grow is bounded.
final class InvariantTests: XCTestCase {
    // MARK: The checkers can fail

    func test_membershipChecker_shouldNameEachBrokenRule() {
        let healthy = MT.joined("a", others: ["b", "c"])
        XCTAssertNil(healthy.checkInvariants())
        var broken = healthy
        broken.table["a"] = nil
        XCTAssertEqual(broken.checkInvariants(), "this node is missing from its own table")
        broken = healthy
        broken.table["a"]?.status = .dead
        XCTAssertEqual(broken.checkInvariants(), "this node is dead in its own table")
        broken = healthy
        broken.suspicions["b"] = Suspicion(incarnation: 0, startedAt: .zero, minimum: .seconds(1), maximum: .seconds(2),
                                           expectedConfirmations: 1, suspecters: ["c"])
        XCTAssertEqual(broken.checkInvariants(), "a suspicion of b, which is alive")
        broken = healthy
        broken.table["b"]?.status = .suspect
        XCTAssertEqual(broken.checkInvariants(), "b#1 is suspect without a running suspicion")
        broken = healthy
        broken.table["x"] = broken.table["b"]
        XCTAssertEqual(broken.checkInvariants(), "row x holds b#1")
    }

    func test_registryChecker_shouldNameEachBrokenRule() throws {
        var healthy = AT.registry("n1", members: AT.view(AT.nodes(3)))
        _ = try healthy.start(AT.spec("a"), on: "n1", now: AT.ms(1))
        _ = healthy.merge([AT.record("b", host: "n2")], now: AT.ms(1))
        XCTAssertNil(healthy.checkInvariants())
        var broken = healthy
        broken.local["b"] = .init(generation: 1)
        XCTAssertEqual(broken.checkInvariants(), "a local process of b, hosted by n2")
        broken = healthy
        broken.records["a"]?.state = .stopped
        XCTAssertEqual(broken.checkInvariants(), "a local process of a, which is stopped")
        broken = healthy
        broken.tombstones["a"] = Tombstone(agent: "a", epoch: 1, active: true, reason: "", issuedBy: "")
        XCTAssertEqual(broken.checkInvariants(), "a is starting under the kill-switch at epoch 1")
        broken = healthy
        broken.checkpoints["ghost"] = Checkpoint(generation: 1, seq: 1, data: [])
        XCTAssertEqual(broken.checkInvariants(), "a checkpoint of ghost, which has no record")
        broken = healthy
        broken.records["c"] = broken.records["b"]
        XCTAssertEqual(broken.checkInvariants(), "record c holds agent b")
    }

    // MARK: Transitions

    func test_memberStatus_transitions_shouldBeTheDocumentedOnes() {
        let legal: Set<String> = ["alive->alive", "alive->suspect", "alive->dead", "alive->left",
                                  "suspect->alive", "suspect->suspect", "suspect->dead", "suspect->left",
                                  "dead->alive", "dead->left"]
        for from in MemberStatus.allCases {
            for to in MemberStatus.allCases {
                XCTAssertEqual(from.canBecome(to), legal.contains("\(from)->\(to)"), "\(from) -> \(to)")
            }
        }
    }

    func test_agentState_transitions_shouldBeTheDocumentedOnes() {
        func allowed(_ from: AgentState) -> Set<AgentState> { Set(AgentState.allCases.filter { from.canBecome($0) }) }
        XCTAssertEqual(allowed(.starting), Set(AgentState.allCases))
        XCTAssertEqual(allowed(.running), Set(AgentState.allCases))
        XCTAssertEqual(allowed(.lost), [.lost, .starting, .running, .stopped, .killed])
        XCTAssertEqual(allowed(.relaunching), [.relaunching, .stopped, .killed])
        XCTAssertEqual(allowed(.quarantined), [.quarantined, .running, .killed])
        for final in [AgentState.stopped, .failed, .killed] { XCTAssertEqual(allowed(final), [final], "\(final) is final") }
    }

    // MARK: Bounds

    func test_pushPull_withManyNewMembers_shouldAddAtMostNewMembersPerFrameMax_andNeverPassMembersMax() {
        var settings = MT.quiet
        settings.newMembersPerFrameMax = 16
        settings.membersMax = 40
        var m = MT.joined("a", others: ["b"], settings: settings)
        func flood(_ round: Int) {
            let states = (0..<100).map { MT.aliveState("fake-\(round)-\($0)") }
            _ = m.receive(.pushPull(from: MT.id("b"), replyTo: MT.endpoint("b"), isReply: true, isJoin: false, states: states),
                          now: MT.ms(round))
        }
        flood(1)
        XCTAssertEqual(m.members.count, 2 + 16, "one frame adds at most newMembersPerFrameMax names")
        for round in 2...5 { flood(round) }
        XCTAssertEqual(m.members.count, 40, "the table stops at membersMax")
        let known = MT.alive("b", 5)
        _ = m.receive(.ack(seq: 0, from: MT.id("b"), gossip: [known]), now: MT.ms(6))
        XCTAssertEqual(m.member(named: "b")?.incarnation, 5, "known members are still updated at the cap")
        XCTAssertNil(m.checkInvariants())
    }

    func test_suspicion_shouldRecordAtMostKConfirmations() {
        var m = MT.joined("a", others: (1...12).map { "m\($0)" })
        _ = m.receive(.ack(seq: 0, from: MT.id("m2"), gossip: [.suspect(MT.id("m1"), incarnation: 0, by: "m2")]), now: MT.ms(1))
        let k = m.suspicions["m1"]?.expectedConfirmations ?? -1
        XCTAssertGreaterThan(k, 0)
        let forged = (0..<200).map { Gossip.suspect(MT.id("m1"), incarnation: 0, by: "forged-\($0)") }
        _ = m.receive(.ack(seq: 0, from: MT.id("m3"), gossip: Array(forged.prefix(WireCodec.maxGossip))), now: MT.ms(2))
        XCTAssertEqual(m.suspicions["m1"]?.suspecters.count, k + 1, "the first suspecter and k confirmations, no more")
    }

    func test_checkpoints_shouldBeCappedInCountAndBytes() {
        var registry = AT.registry("n2", members: AT.view(AT.nodes(3)))
        registry.checkpointsMax = 8
        registry.checkpointBytesMax = 3 * WireCodec.maxCheckpointBytes + 10
        let count = registry.checkpointsMax + 1
        _ = registry.merge((0..<count).map { AT.record("a\($0)", host: "n1") }, now: AT.ms(1))
        func offer(_ agent: String, _ data: [UInt8], seq: UInt64 = 1) -> Bool {
            let made = AT.checkpoint(agent, generation: 1, seq: seq, data: data, host: "n1")
            return !registry.receive(AT.checkpointMessage(made, of: agent, from: "n1"), now: AT.ms(2)).isEmpty
        }
        let large = [UInt8](repeating: 1, count: WireCodec.maxCheckpointBytes)
        let fitting = registry.checkpointBytesMax / large.count
        for i in 0..<fitting { XCTAssertTrue(offer("a\(i)", large)) }
        XCTAssertFalse(offer("a\(fitting)", large), "beyond checkpointBytesMax: not held, not acknowledged")
        XCTAssertTrue(offer("a\(fitting)", [1]), "a small one still fits")
        XCTAssertEqual(registry.checkpointBytes, 3 * WireCodec.maxCheckpointBytes + 1)
        for i in (fitting + 1)..<(count - 1) { XCTAssertTrue(offer("a\(i)", [])) }
        XCTAssertEqual(registry.checkpoints.count, registry.checkpointsMax)
        XCTAssertFalse(offer("a\(count - 1)", []), "beyond checkpointsMax: not held")
        XCTAssertTrue(offer("a0", [2], seq: 2), "a newer checkpoint of a held agent replaces it within the caps")
        XCTAssertEqual(registry.checkpointBytes, 2 * WireCodec.maxCheckpointBytes + 2)
        XCTAssertNil(registry.checkInvariants())
    }

    func test_localCheckpoint_shouldReplaceAPeersNewerLookingOne() throws {
        var registry = AT.registry("n1", members: AT.view(AT.nodes(4)))
        _ = try registry.start(AT.spec("a"), on: "n1", now: AT.ms(1))
        let ahead = AT.checkpoint(generation: 9, seq: 9, data: [9], host: "n2")
        XCTAssertEqual(registry.receive(AT.checkpointMessage(ahead, from: "n2"), now: AT.ms(2)).forged, ["checkpoint"])
        XCTAssertNil(registry.checkpoints["a"], "a peer's checkpoint of an agent it does not host is refused")
        _ = try registry.checkpoint("a", data: [1], now: AT.ms(3))
        XCTAssertEqual(registry.checkpoints["a"], AT.checkpoint(generation: 1, seq: 1, data: [1], host: "n1"),
                       "the host's own checkpoint is held")
        XCTAssertEqual(registry.checkpointBytes, 1)
    }
}
