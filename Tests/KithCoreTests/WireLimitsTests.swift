import XCTest
@testable import KithCore

/// Free text is clipped where it enters, counters never pass the wire's top,
/// and the decoder refuses what the core would never make.
final class WireLimitsTests: XCTestCase {
    private let alice = NodeID(name: "alice", uid: 1)

    // MARK: Clipping

    func test_clipped_shouldKeepTheLongestPrefix_onACharacterBoundary() {
        struct Case { var text: String, limit: Int, expected: String, why: String }
        let table = [
            Case(text: "abc", limit: 3, expected: "abc", why: "fits: unchanged"),
            Case(text: "abcd", limit: 3, expected: "abc", why: "ASCII: cut at the limit"),
            Case(text: "aéé", limit: 4, expected: "aé", why: "a two-byte character is not split"),
            Case(text: "🔪🔪", limit: 7, expected: "🔪", why: "a four-byte scalar is not split"),
            Case(text: "e\u{301}x", limit: 2, expected: "", why: "a combining sequence (3 bytes) stays whole"),
            Case(text: "abc", limit: 0, expected: "", why: "limit zero: empty"),
        ]
        for t in table {
            let clipped = t.text.clipped(toUTF8Bytes: t.limit)
            XCTAssertEqual(clipped, t.expected, t.why)
            XCTAssertLessThanOrEqual(clipped.utf8.count, t.limit, t.why)
        }
    }

    func test_killSwitch_withAReasonOf300BytesOr64KiB_shouldClipItInTheTombstoneAndTheRecord() throws {
        for size in [300, 64 << 10] {
            var registry = AT.registry("n1", members: AT.view(AT.nodes(3)))
            _ = registry.merge([AT.record("a", host: "n2")], now: AT.ms(1))
            let reason = String(repeating: "é", count: size / 2)  // 255 bytes would split an é: 254 are kept
            let directives = try registry.killSwitch("a", epoch: 7, reason: reason, issuedBy: String(repeating: "k", count: 300),
                                                     now: AT.ms(2))
            let tombstone = try XCTUnwrap(registry.tombstones["a"])
            XCTAssertEqual(tombstone.reason.utf8.count, WireCodec.maxStringBytes - 1, "254 bytes: the next é would not fit")
            XCTAssertTrue(reason.hasPrefix(tombstone.reason))
            XCTAssertEqual(tombstone.issuedBy.utf8.count, WireCodec.maxStringBytes)
            let record = try XCTUnwrap(registry.records["a"])
            XCTAssertEqual(record.state, .killed)
            XCTAssertLessThanOrEqual(record.reason.utf8.count, WireCodec.maxStringBytes)
            XCTAssertTrue(record.reason.hasPrefix("kill-switch at epoch 7: é"))
            // Every frame the registry sends now, and its whole-registry sync, decodes everywhere.
            let sync = registry.tick(now: AT.ms(5000)).sentMessages.map(\.message)
            XCTAssertFalse(sync.isEmpty)
            for case let .send(message, _) in directives { XCTAssertNoThrow(try WireCodec.decode(WireCodec.encode(message))) }
            for message in sync { XCTAssertNoThrow(try WireCodec.decode(WireCodec.encode(message))) }
        }
    }

    func test_exitStatus_longerThanAWireString_shouldBeClippedInTheRecord() throws {
        var registry = AT.registry("n1", members: AT.view(AT.nodes(3)))
        _ = try registry.start(AT.spec("a"), on: "n1", now: AT.ms(1))
        let directives = registry.exited("a", generation: 1, status: String(repeating: "✂", count: 500), now: AT.ms(2))
        let record = try XCTUnwrap(registry.records["a"])
        XCTAssertTrue(record.reason.hasPrefix("restarting after ✂"))
        XCTAssertLessThanOrEqual(record.reason.utf8.count, WireCodec.maxStringBytes)
        for case let .send(message, _) in directives { XCTAssertNoThrow(try WireCodec.decode(WireCodec.encode(message))) }
    }

    func test_killSwitchAndRevive_beyondTheWiresEpochOrNameLimit_shouldBeRefused() {
        var registry = AT.registry("n1", members: AT.view(AT.nodes(3)))
        XCTAssertThrowsError(try registry.killSwitch("a", epoch: WireCodec.counterMax + 1, reason: "", issuedBy: "", now: AT.ms(1)))
        XCTAssertThrowsError(try registry.killSwitch(String(repeating: "a", count: 65), epoch: 1, reason: "", issuedBy: "", now: AT.ms(1)))
        XCTAssertThrowsError(try registry.revive("a", epoch: .max, issuedBy: "", now: AT.ms(1)))
        XCTAssertTrue(registry.tombstones.isEmpty)
        registry.restore(tombstones: [Tombstone(agent: "a", epoch: .max, active: false, reason: "", issuedBy: "")])
        XCTAssertTrue(registry.tombstones.isEmpty, "a saved tombstone the wire could not carry is skipped")
    }

    // MARK: Counters at the top

    /// A record at the top generation and version, hosted here, whose agent
    /// keeps exiting: restarts and handoffs saturate, the version stays at
    /// the top, the relaunch a new generation would need is refused. No trap.
    func test_aRecordAtTheTopGenerationAndVersion_whoseAgentExits_shouldNotTrap() throws {
        var registry = AT.registry("n1", members: AT.view(AT.nodes(3)))
        var record = AT.record("a", generation: WireCodec.counterMax, version: WireCodec.counterMax, host: "n1",
                               spec: AT.spec("a", policy: .relaunch, maxRestarts: 2, maxHandoffs: Int.max))
        record.restarts = .max
        record.handoffs = .max - 1
        record = AT.signed(record)
        _ = registry.merge([record], now: AT.ms(1))
        XCTAssertNotNil(registry.local["a"], "spawned here")
        var now = AT.ms(2)
        for _ in 0..<4 {
            _ = registry.exited("a", generation: WireCodec.counterMax, status: "exited with status 1", now: now)
            now = now + .seconds(3)
            _ = registry.tick(now: now)
        }
        let after = try XCTUnwrap(registry.records["a"])
        XCTAssertEqual(after.generation, WireCodec.counterMax, "no generation beyond the top")
        XCTAssertEqual(after.version, WireCodec.counterMax, "the version saturates")
        XCTAssertEqual(after.restarts, .max, "restarts saturate")
        XCTAssertEqual(after.handoffs, .max, "handoffs saturate")
        XCTAssertEqual(after.state, .relaunching, "handed on, and no node can start a generation above the top")
        XCTAssertNil(registry.checkInvariants())
        XCTAssertThrowsError(try registry.start(AT.spec("a"), on: "n1", now: now), "no fresh start above the top either")
    }

    func test_decode_countersBeyondTheCoresTop_shouldReturnError_andAtTheTop_shouldSucceed() throws {
        let top = WireCodec.counterMax
        let atTop: [Message] = [
            .checkpoint(from: alice, replyTo: "", agent: "a", generation: top, seq: top, data: []),
            .checkpointAck(from: alice, agent: "a", generation: top, seq: top),
            .checkpointOffer(from: alice, agent: "a", checkpoint: Checkpoint(generation: top, seq: top, data: [])),
            .relaunchRequest(from: alice, agent: "a", generation: top, by: ""),
            .tombstones(from: alice, tombstones: [Tombstone(agent: "a", epoch: top, active: true, reason: "", issuedBy: "")]),
            .agents(from: alice, replyTo: "", wantsReply: false,
                    records: [AT.record("a", generation: top, version: top)]),
        ]
        for message in atTop { XCTAssertEqual(try WireCodec.decode(WireCodec.encode(message)), message) }
        let beyond: [Message] = [
            .checkpoint(from: alice, replyTo: "", agent: "a", generation: top + 1, seq: 1, data: []),
            .checkpoint(from: alice, replyTo: "", agent: "a", generation: 1, seq: .max, data: []),
            .checkpointAck(from: alice, agent: "a", generation: .max, seq: 1),
            .checkpointOffer(from: alice, agent: "a", checkpoint: Checkpoint(generation: top + 1, seq: 1, data: [])),
            .checkpointOffer(from: alice, agent: "a", checkpoint: Checkpoint(generation: 1, seq: .max, data: [])),
            .relaunchRequest(from: alice, agent: "a", generation: top + 1, by: ""),
            .tombstones(from: alice, tombstones: [Tombstone(agent: "a", epoch: .max, active: false, reason: "", issuedBy: "")]),
            .agents(from: alice, replyTo: "", wantsReply: false, records: [AT.record("a", generation: 1 << 63)]),
            .agents(from: alice, replyTo: "", wantsReply: false, records: [AT.record("a", version: .max)]),
        ]
        for message in beyond {
            XCTAssertThrowsError(try WireCodec.decode(WireCodec.encode(message, checkingLimits: false)), "\(message)") { error in
                XCTAssertTrue("\(error)".contains("exceeds limit \(top)"), "\(error)")
            }
        }
    }
}
