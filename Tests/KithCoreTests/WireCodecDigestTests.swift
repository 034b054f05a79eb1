import XCTest
@testable import KithCore

/// The anti-entropy digest frame (type 12): layout, canonical order, limits, and hostile bytes.
final class WireCodecDigestTests: XCTestCase {
    private let alice = NodeID(name: "alice", uid: 0x0123_4567_89AB_CDEF)

    /// One stamp per state, with edge values in the numeric and string fields.
    private var stamps: [RecordDigest] {
        AgentState.allCases.enumerated().map { n, state in
            RecordDigest(name: "a\(n)-東京", generation: n == 0 ? WireCodec.counterMax : UInt64(n), version: UInt64(n) << 40,
                         state: state, host: n.isMultiple(of: 2) ? "node-東京" : "", updatedBy: n == 3 ? String(repeating: "u", count: 255) : "b")
        }
    }

    private var messages: [Message] {
        [
            .agentDigest(from: alice, replyTo: "10.0.0.1:7946", isReply: false, records: stamps,
                         tombstones: [TombstoneDigest(agent: "b", epoch: WireCodec.counterMax, kind: .lifted),
                                      TombstoneDigest(agent: "gärtner", epoch: 7, kind: .quarantine)]),
            .agentDigest(from: NodeID(name: "nœud", uid: .max), replyTo: "", isReply: true, records: [], tombstones: []),
            .agentDigest(from: alice, replyTo: "x", isReply: true, records: [stamps[1]], tombstones: []),
        ]
    }

    /// A digest frame from `n`/uid 2 with no reply endpoint, its lists written by `body`.
    private func digestFrame(flags: UInt8 = 0, _ body: (inout ByteWriter) -> Void) -> [UInt8] {
        var w = ByteWriter()
        w.u8(WireCodec.version)
        w.u8(12)
        WireCodec.write(NodeID(name: "n", uid: 2), to: &w)
        w.string("")
        w.u8(flags)
        body(&w)
        return w.bytes
    }

    private func stamp(_ name: String, state: UInt8 = 1, to w: inout ByteWriter) {
        w.string(name)
        w.varint(1)
        w.varint(0)
        w.u8(state)
        w.string("h")
        w.string("u")
    }

    // MARK: Round trips and layout

    func test_roundTrip_everyDigest_shouldDecodeToEqualMessageAndSameBytes() throws {
        XCTAssertEqual(Set(stamps.map(\.state)), Set(AgentState.allCases))
        for message in messages {
            let payload = WireCodec.encode(message)
            let decoded = try WireCodec.decode(payload)
            XCTAssertEqual(decoded, message)
            XCTAssertEqual(WireCodec.encode(decoded), payload)
        }
    }

    func test_encode_digest_shouldMatchGoldenLayout() {
        let message = Message.agentDigest(from: NodeID(name: "n", uid: 2), replyTo: "e", isReply: true,
                                          records: [RecordDigest(name: "a", generation: 300, version: 2, state: .killed,
                                                                 host: "h", updatedBy: "u")],
                                          tombstones: [TombstoneDigest(agent: "a", epoch: 5, kind: .killSwitch)])
        XCTAssertEqual(WireCodec.encode(message), [
            1, 12,                                  // version, type
            1, 0x6E, 0, 0, 0, 0, 0, 0, 0, 2,        // from
            1, 0x65, 1,                             // replyTo, isReply
            1, 1, 0x61, 0xAC, 0x02, 2, 6,           // one stamp: name, generation 300, version, killed
            1, 0x68, 1, 0x75,                       // host, updatedBy
            1, 1, 0x61, 5, 1,                       // one tombstone stamp: agent, epoch, kill-switch
        ])
    }

    func test_stamps_shouldOrderLikeTheRecordsAndTombstonesTheyStampFor() {
        let records = [AT.record(generation: 2), AT.record(generation: 1, state: .killed), AT.record(host: "n2"),
                       AT.record(version: 3), AT.record(updatedBy: "n9"), AT.record()]
        for a in records {
            for b in records { XCTAssertEqual(a.digest.supersedes(b.digest), a.supersedes(b), "\(a.digest) vs \(b.digest)") }
        }
        let tombstones = [AT.tombstone("a", epoch: 2, active: false), AT.tombstone("a", epoch: 2, active: true),
                          AT.tombstone("a", epoch: 1, active: true),
                          Tombstone(agent: "a", epoch: 2, kind: .quarantine, reason: "", issuedBy: "")]
        for a in tombstones {
            for b in tombstones { XCTAssertEqual(a.digest.supersedes(b.digest), a.supersedes(b)) }
        }
    }

    // MARK: Hostile bytes

    func test_decode_stampsOutOfOrderOrRepeated_shouldReturnError() {
        let ordered = digestFrame { w in
            w.varint(2); stamp("a", to: &w); stamp("b", to: &w); w.varint(0)
        }
        XCTAssertNoThrow(try WireCodec.decode(ordered))
        for names in [["b", "a"], ["a", "a"]] {
            let payload = digestFrame { w in
                w.varint(2); stamp(names[0], to: &w); stamp(names[1], to: &w); w.varint(0)
            }
            XCTAssertEqual(decodeError(payload)?.message, "record digests not in ascending name order")
        }
        let tombstones = digestFrame { w in
            w.varint(0); w.varint(2); w.string("a"); w.varint(1); w.u8(1); w.string("a"); w.varint(2); w.u8(0)
        }
        XCTAssertEqual(decodeError(tombstones)?.message, "tombstone digests not in ascending agent order")
    }

    func test_decode_badFlagsStateOrTombstoneFlag_shouldReturnError() {
        XCTAssertEqual(decodeError(digestFrame(flags: 2) { w in w.varint(0); w.varint(0) })?.message, "unknown flags 2")
        XCTAssertEqual(decodeError(digestFrame { w in w.varint(1); stamp("a", state: 8, to: &w); w.varint(0) })?.message,
                       "unknown agent state 8")
        XCTAssertEqual(decodeError(digestFrame { w in w.varint(0); w.varint(1); w.string("a"); w.varint(1); w.u8(3) })?.message,
                       "bad tombstone kind 3")
    }

    func test_decode_limits_shouldReturnError() {
        XCTAssertEqual(decodeError(digestFrame { w in w.varint(UInt64(WireCodec.maxAgentRecords) + 1) })?.message,
                       "count 100001 exceeds limit 100000")
        XCTAssertEqual(decodeError(digestFrame { w in w.varint(50_000); w.u8(0) })?.message,
                       "count 50000 exceeds the 1 bytes left")
        let longName = digestFrame { w in w.varint(1); stamp(String(repeating: "n", count: 65), to: &w); w.varint(0) }
        XCTAssertEqual(decodeError(longName)?.message, "length 65 exceeds limit 64")
        let generation = digestFrame { w in
            w.varint(1); w.string("a"); w.varint(WireCodec.counterMax + 1)
            w.varint(0); w.u8(1); w.string(""); w.string(""); w.varint(0)
        }
        XCTAssertEqual(decodeError(generation)?.message, "value 9223372036854775808 exceeds limit 9223372036854775807")
        XCTAssertEqual(decodeError(digestFrame { w in w.varint(0); w.varint(0); w.u8(0) })?.message,
                       "1 trailing bytes after the message")
    }

    func test_decode_everyTruncatedPrefix_shouldReturnError() {
        for message in messages {
            let payload = WireCodec.encode(message)
            for cut in 0..<payload.count { XCTAssertThrowsError(try WireCodec.decode(Array(payload[..<cut]))) }
        }
    }

    func test_decode_mutatedDigests_shouldNeverTrap_andAcceptOnlyCanonicalBytes() {
        let accepted = decodeMutations(of: messages, rounds: 2_000, seed: 0xD16E)
        XCTAssertGreaterThan(accepted, 100, "many mutations (in strings and numbers) still decode")
    }
}
