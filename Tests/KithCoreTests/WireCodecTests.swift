import XCTest
@testable import KithCore

final class WireCodecTests: XCTestCase {
    // MARK: Fixtures

    private let alice = NodeID(name: "alice", uid: 0x0123_4567_89AB_CDEF)
    private let unicode = NodeID(name: "nœud-東京-🚀", uid: .max)
    private let anonymous = NodeID(name: "", uid: 0)

    private var manyTags: [String: String] {
        Dictionary(uniqueKeysWithValues: (0..<WireCodec.maxTags).map { ("tag-\($0)", "välue-\($0)") })
    }

    private var richMeta: NodeMeta {
        NodeMeta(endpoint: "10.0.0.1:7946", control: "127.0.0.1:7947", http: "[::1]:8080",
                 capacity: .max, tags: manyTags)
    }

    private var allGossipKinds: [Gossip] {
        [
            .alive(alice, incarnation: 3, meta: richMeta),
            .alive(anonymous, incarnation: 0, meta: NodeMeta(endpoint: "")),
            .suspect(unicode, incarnation: .max, by: "alice"),
            .dead(alice, incarnation: 128, by: "ñ"),
            .left(unicode, incarnation: 1),
        ]
    }

    private var messages: [Message] {
        [
            .ping(seq: 1, from: alice, replyTo: "10.0.0.1:7946", target: unicode, gossip: allGossipKinds),
            .ping(seq: .max, from: unicode, replyTo: "", target: anonymous, gossip: []),
            .pingReq(seq: 77, from: alice, replyTo: "10.0.0.1:7946", target: unicode,
                     targetEndpoint: "[fe80::1]:7946", gossip: allGossipKinds),
            .pingReq(seq: 0, from: anonymous, replyTo: "", target: anonymous, targetEndpoint: "", gossip: []),
            .ack(seq: 9, from: unicode, gossip: allGossipKinds),
            .ack(seq: 10, from: alice, gossip: []),
            .nack(seq: 0xDEAD_BEEF, from: alice),
            .pushPull(from: alice, replyTo: "10.0.0.1:7946", isReply: false, isJoin: true,
                      states: MemberStatus.allCases.enumerated().map { n, status in
                          MemberState(id: NodeID(name: "node-\(n)-東京", uid: UInt64(n) << 40),
                                      meta: n == 0 ? richMeta : NodeMeta(endpoint: "10.0.0.\(n):7946", tags: ["zone": "a"]),
                                      status: status, incarnation: UInt32(n * 1000))
                      }),
            .pushPull(from: unicode, replyTo: "", isReply: true, isJoin: false, states: []),
            .pushPull(from: unicode, replyTo: "x", isReply: true, isJoin: true, states: []),
        ]
    }

    /// A payload header followed by a body written by `body`, for hand-made frames.
    private func frame(type: UInt8, _ body: (inout ByteWriter) -> Void) -> [UInt8] {
        var w = ByteWriter()
        w.u8(WireCodec.version)
        w.u8(type)
        body(&w)
        return w.bytes
    }

    private func writeNodeID(_ name: String, to w: inout ByteWriter) {
        w.string(name)
        w.u64(1)
    }

    /// An `ack` carrying one `alive` gossip whose meta has `tags` in the given order.
    private func ackWithTags(_ tags: [(String, String)]) -> [UInt8] {
        frame(type: 3) { w in
            w.u32(1)
            writeNodeID("a", to: &w)
            w.varint(1)
            w.u8(0)
            writeNodeID("b", to: &w)
            w.varint(0)
            w.string("e"); w.string(""); w.string("")
            w.varint(8)
            w.varint(UInt64(tags.count))
            for (k, v) in tags { w.string(k); w.string(v) }
            w.bytes([]); w.bytes([])  // no key, no certificate
        }
    }

    // MARK: Round trips and layout

    func test_roundTrip_everyMessageCase_shouldDecodeToEqualMessage() throws {
        for message in messages {
            XCTAssertEqual(try WireCodec.decode(WireCodec.encode(message)), message)
        }
    }

    func test_decode_arraySlice_shouldMatchArray() throws {
        let payload = [0xAA] + WireCodec.encode(messages[0]) + [0xBB]
        XCTAssertEqual(try WireCodec.decode(payload[1..<payload.count - 1]), messages[0])
    }

    func test_encode_header_shouldCarryVersionAndType() {
        let types = messages.map { WireCodec.encode($0)[0...1] }
        XCTAssertEqual(types.map(Array.init), [[1, 1], [1, 1], [1, 2], [1, 2], [1, 3], [1, 3], [1, 4], [1, 5], [1, 5], [1, 5]])
    }

    func test_encode_nack_shouldMatchGoldenBytes() {
        let bytes = WireCodec.encode(.nack(seq: 0x0102_0304, from: NodeID(name: "é", uid: 0x0A0B)))
        XCTAssertEqual(bytes, [1, 4, 1, 2, 3, 4, 2, 0xC3, 0xA9, 0, 0, 0, 0, 0, 0, 0x0A, 0x0B])
    }

    func test_encode_pushPullFlags_shouldUseOneBitEach() {
        let replyOnly = WireCodec.encode(.pushPull(from: anonymous, replyTo: "", isReply: true, isJoin: false, states: []))
        let joinOnly = WireCodec.encode(.pushPull(from: anonymous, replyTo: "", isReply: false, isJoin: true, states: []))
        XCTAssertEqual(replyOnly, [1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])
        XCTAssertEqual(joinOnly, [1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0])
    }

    func test_encode_tags_shouldBeSortedByKey() {
        let meta = NodeMeta(endpoint: "", capacity: 1, tags: ["b": "2", "a": "1", "c": "3"])
        let encoded = WireCodec.encode(.ack(seq: 0, from: anonymous, gossip: [.alive(anonymous, incarnation: 0, meta: meta)]))
        XCTAssertEqual(Array(encoded.suffix(16)), [1, 3, 1, 0x61, 1, 0x31, 1, 0x62, 1, 0x32, 1, 0x63, 1, 0x33, 0, 0])
    }

    // MARK: Header, kinds and trailing data

    func test_decode_unsupportedVersion_shouldReturnError() {
        var payload = WireCodec.encode(messages[6])
        payload[0] = 2
        XCTAssertEqual(decodeError(payload)?.message, "unsupported version 2")
        XCTAssertEqual(decodeError([0, 1])?.message, "unsupported version 0")
    }

    func test_decode_unknownMessageType_shouldReturnError() {
        for type: UInt8 in [0, 16, 255] {
            XCTAssertEqual(decodeError([1, type])?.message, "unknown message type \(type)")
        }
    }

    func test_decode_unknownGossipKind_shouldReturnError() {
        let payload = frame(type: 3) { w in
            w.u32(1)
            writeNodeID("a", to: &w)
            w.varint(1)
            w.u8(4)
        }
        XCTAssertEqual(decodeError(payload)?.message, "unknown gossip kind 4")
    }

    func test_decode_unknownMemberStatus_shouldReturnError() {
        let state = MemberState(id: alice, meta: NodeMeta(endpoint: "e"), status: .left, incarnation: 0)
        var payload = WireCodec.encode(.pushPull(from: alice, replyTo: "", isReply: false, isJoin: false, states: [state]))
        XCTAssertEqual(payload[payload.count - 3], MemberStatus.left.rawValue)  // then the incarnation and an empty signature
        payload[payload.count - 3] = 4
        XCTAssertEqual(decodeError(payload)?.message, "unknown member status 4")
    }

    func test_decode_unknownFlagBits_shouldReturnError() {
        var payload = WireCodec.encode(.pushPull(from: anonymous, replyTo: "", isReply: true, isJoin: true, states: []))
        payload[payload.count - 2] = 4
        XCTAssertEqual(decodeError(payload)?.message, "unknown flags 4")
    }

    func test_decode_trailingBytes_shouldReturnError() {
        for message in messages {
            XCTAssertNotNil(decodeError(WireCodec.encode(message) + [0]))
        }
    }

    func test_decode_emptyPayload_shouldReturnError() {
        XCTAssertNotNil(decodeError([]))
        XCTAssertNotNil(decodeError([1]))
    }

    func test_decode_everyTruncatedPrefix_shouldReturnError() {
        for message in messages {
            let payload = WireCodec.encode(message)
            for length in 0..<payload.count {
                XCTAssertThrowsError(try WireCodec.decode(Array(payload.prefix(length))), "\(message) cut at \(length)")
            }
        }
    }

    // MARK: Bounds

    func test_decode_stringAtLimit_shouldSucceed_andOverLimit_shouldReturnError() throws {
        let longest = String(repeating: "é", count: 127) + "x"
        XCTAssertEqual(longest.utf8.count, WireCodec.maxStringBytes)
        let ok = Message.nack(seq: 1, from: NodeID(name: longest, uid: 1))
        XCTAssertEqual(try WireCodec.decode(WireCodec.encode(ok)), ok)
        let tooLong = Message.nack(seq: 1, from: NodeID(name: longest + "x", uid: 1))
        XCTAssertEqual(decodeError(WireCodec.encode(tooLong, checkingLimits: false))?.message, "length 256 exceeds limit 255")
    }

    func test_decode_overlongEndpointOrTagOrSuspector_shouldReturnError() {
        let long = String(repeating: "a", count: 256)
        let cases: [Message] = [
            .ping(seq: 1, from: alice, replyTo: long, target: alice, gossip: []),
            .pingReq(seq: 1, from: alice, replyTo: "", target: alice, targetEndpoint: long, gossip: []),
            .ack(seq: 1, from: alice, gossip: [.suspect(alice, incarnation: 1, by: long)]),
            .ack(seq: 1, from: alice, gossip: [.alive(alice, incarnation: 1, meta: NodeMeta(endpoint: "", http: long))]),
            .ack(seq: 1, from: alice, gossip: [.alive(alice, incarnation: 1, meta: NodeMeta(endpoint: "", tags: ["k": long]))]),
            .ack(seq: 1, from: alice, gossip: [.alive(alice, incarnation: 1, meta: NodeMeta(endpoint: "", tags: [long: "v"]))]),
        ]
        for message in cases {
            XCTAssertEqual(decodeError(WireCodec.encode(message, checkingLimits: false))?.message, "length 256 exceeds limit 255")
        }
    }

    func test_decode_tooManyTags_shouldReturnError() {
        var tags = manyTags
        tags["one-more"] = ""
        let message = Message.ack(seq: 1, from: alice, gossip: [.alive(alice, incarnation: 1, meta: NodeMeta(endpoint: "", tags: tags))])
        XCTAssertEqual(decodeError(WireCodec.encode(message, checkingLimits: false))?.message, "count 65 exceeds limit 64")
    }

    func test_decode_tagsOutOfOrderOrRepeated_shouldReturnError() throws {
        XCTAssertNoThrow(try WireCodec.decode(ackWithTags([("a", "1"), ("b", "2")])))
        XCTAssertEqual(decodeError(ackWithTags([("b", "2"), ("a", "1")]))?.message, "tag keys not in ascending order")
        XCTAssertEqual(decodeError(ackWithTags([("a", "1"), ("a", "2")]))?.message, "tag keys not in ascending order")
    }

    func test_decode_gossipAtLimit_shouldSucceed_andOverLimit_shouldReturnError() throws {
        let gossip = (0..<WireCodec.maxGossip).map { Gossip.left(NodeID(name: "n\($0)", uid: UInt64($0)), incarnation: 1) }
        let ok = Message.ack(seq: 1, from: alice, gossip: gossip)
        XCTAssertEqual(try WireCodec.decode(WireCodec.encode(ok)), ok)
        let over = Message.ack(seq: 1, from: alice, gossip: gossip + [.left(alice, incarnation: 2)])
        XCTAssertEqual(decodeError(WireCodec.encode(over, checkingLimits: false))?.message, "count 257 exceeds limit 256")
    }

    func test_decode_statesAtLimit_shouldSucceed() throws {
        let state = MemberState(id: anonymous, meta: NodeMeta(endpoint: ""), status: .alive, incarnation: 0)
        let message = Message.pushPull(from: alice, replyTo: "", isReply: false, isJoin: false,
                                       states: Array(repeating: state, count: WireCodec.maxStates))
        XCTAssertEqual(try WireCodec.decode(WireCodec.encode(message)), message)
    }

    func test_decode_statesOverLimit_shouldReturnError() {
        let payload = frame(type: 5) { w in
            writeNodeID("a", to: &w)
            w.string("")
            w.u8(0)
            w.varint(UInt64(WireCodec.maxStates) + 1)
            w.bytes(Array(repeating: 0, count: 200_000))
        }
        XCTAssertEqual(decodeError(payload)?.message, "count 100001 exceeds limit 100000")
    }

    func test_decode_countBeyondRemainingBytes_shouldReturnErrorBeforeAllocating() {
        let payload = frame(type: 5) { w in
            writeNodeID("a", to: &w)
            w.string("")
            w.u8(0)
            w.varint(50_000)
            w.u8(0)
        }
        XCTAssertEqual(decodeError(payload)?.message, "count 50000 exceeds the 1 bytes left")
    }

    func test_decode_hugeClaimedStringLength_shouldReturnError() {
        let payload = frame(type: 4) { w in
            w.u32(1)
            w.varint(.max)
        }
        XCTAssertEqual(decodeError(payload)?.message, "length 18446744073709551615 exceeds limit 255")
    }

    func test_decode_incarnationOrCapacityBeyond32Bits_shouldReturnError() {
        let incarnation = frame(type: 3) { w in
            w.u32(1)
            writeNodeID("a", to: &w)
            w.varint(1)
            w.u8(3)
            writeNodeID("b", to: &w)
            w.varint(UInt64(UInt32.max) + 1)
        }
        XCTAssertEqual(decodeError(incarnation)?.message, "value 4294967296 exceeds 32 bits")
        let capacity = frame(type: 3) { w in
            w.u32(1)
            writeNodeID("a", to: &w)
            w.varint(1)
            w.u8(0)
            writeNodeID("b", to: &w)
            w.varint(0)
            w.string(""); w.string(""); w.string("")
            w.varint(1 << 40)
            w.varint(0)
        }
        XCTAssertEqual(decodeError(capacity)?.message, "value 1099511627776 exceeds 32 bits")
    }

    func test_decode_invalidUTF8Name_shouldReturnError() {
        let payload = frame(type: 4) { w in
            w.u32(1)
            w.bytes([0x61, 0xFF])
            w.u64(1)
        }
        XCTAssertEqual(decodeError(payload)?.message, "invalid UTF-8 in string")
    }

    // MARK: Fuzz

    func test_decode_randomPayloads_shouldNeverTrap_andAcceptOnlyCanonicalBytes() {
        var random = SeededRandom(seed: 0x4B17_4B17)
        var decoded = 0
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...48, using: &random)
            // Half the bytes small, so lengths, counts and kinds are often in range;
            // mostly a valid header, so the fuzz reaches the bodies.
            var payload = (0..<count).map { _ in
                UInt8.random(in: 0...(Bool.random(using: &random) ? 3 : 255), using: &random)
            }
            if payload.count >= 2 && !Int.random(in: 0..<4, using: &random).isMultiple(of: 4) {
                payload[0] = WireCodec.version
                payload[1] = UInt8.random(in: 1...5, using: &random)
            }
            guard let message = try? WireCodec.decode(payload) else { continue }
            decoded += 1
            XCTAssertEqual(WireCodec.encode(message), payload, "a decoded payload re-encodes to the same bytes")
        }
        XCTAssertGreaterThan(decoded, 10, "the fuzz should reach decodable payloads")
    }

    func test_decode_mutatedValidFrames_shouldNeverTrap_andAcceptOnlyCanonicalBytes() {
        decodeMutations(of: messages, rounds: 2_000, seed: 99)
    }
}

final class ByteReaderTests: XCTestCase {
    func test_fixedWidthIntegers_shouldBeBigEndian() throws {
        var w = ByteWriter()
        w.u8(0xAB)
        w.u16(0x0102)
        w.u32(0x0304_0506)
        w.u64(0x0708_090A_0B0C_0D0E)
        XCTAssertEqual(w.bytes, [0xAB, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14])
        var r = ByteReader(w.bytes)
        XCTAssertEqual(try r.u8(), 0xAB)
        XCTAssertEqual(try r.u16(), 0x0102)
        XCTAssertEqual(try r.u32(), 0x0304_0506)
        XCTAssertEqual(try r.u64(), 0x0708_090A_0B0C_0D0E)
        XCTAssertTrue(r.isAtEnd)
        XCTAssertThrowsError(try r.u8())
    }

    func test_varint_shouldRoundTripEdgeValues_withLEB128Lengths() throws {
        let cases: [(UInt64, Int)] = [(0, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3),
                                      (UInt64(UInt32.max), 5), (1 << 63, 10), (.max, 10)]
        for (value, length) in cases {
            var w = ByteWriter()
            w.varint(value)
            XCTAssertEqual(w.bytes.count, length, "\(value)")
            var r = ByteReader(w.bytes)
            XCTAssertEqual(try r.varint(), value)
            XCTAssertTrue(r.isAtEnd)
        }
        var w = ByteWriter()
        w.varint(300)
        XCTAssertEqual(w.bytes, [0xAC, 0x02])
    }

    func test_varint_overflowingOrOverlongOrNonMinimal_shouldReturnError() {
        let cases: [([UInt8], String)] = [
            (Array(repeating: 0xFF, count: 9) + [0x02], "varint overflows 64 bits"),
            (Array(repeating: 0x80, count: 10) + [0x00], "varint longer than 10 bytes"),
            (Array(repeating: 0x80, count: 9) + [0x81], "varint longer than 10 bytes"),
            ([0x80, 0x00], "non-minimal varint"),
            ([0xFF, 0x80, 0x00], "non-minimal varint"),
            ([0x80], "unexpected end of data"),
        ]
        for (bytes, message) in cases {
            var r = ByteReader(bytes)
            XCTAssertThrowsError(try r.varint(), "\(bytes)") { XCTAssertEqual(($0 as? DecodeError)?.message, message) }
        }
    }

    func test_stringAndBytes_shouldRoundTrip_andRespectLimits() throws {
        var w = ByteWriter()
        w.string("nœud-🚀")
        w.bytes([1, 2, 3])
        w.bytes([])
        var r = ByteReader(w.bytes)
        var tight = ByteReader(w.bytes)
        XCTAssertThrowsError(try tight.string(maxBytes: 9))
        XCTAssertEqual(try r.string(maxBytes: 10), "nœud-🚀")
        XCTAssertEqual(try r.bytes(maxBytes: 3), [1, 2, 3])
        XCTAssertEqual(try r.bytes(maxBytes: 0), [])
        XCTAssertTrue(r.isAtEnd)
        var short = ByteReader([5, 1, 2])
        XCTAssertThrowsError(try short.bytes(maxBytes: 100))
    }

    func test_count_shouldBeBoundedByLimitAndRemainingBytes() throws {
        var ok = ByteReader([3, 0, 0, 0])
        XCTAssertEqual(try ok.count(max: 3), 3)
        XCTAssertEqual(ok.remaining, 3)
        var overLimit = ByteReader([4, 0, 0, 0, 0])
        XCTAssertThrowsError(try overLimit.count(max: 3))
        var overRemaining = ByteReader([3, 0, 0])
        XCTAssertThrowsError(try overRemaining.count(max: 10))
        var negativeLimit = ByteReader([0])
        XCTAssertThrowsError(try negativeLimit.count(max: -1))
    }

    func test_readerOverSlice_shouldReadOnlyTheSlice() throws {
        let bytes: [UInt8] = [9, 1, 2, 9]
        var r = ByteReader(bytes[1...2])
        XCTAssertEqual(try r.u16(), 0x0102)
        XCTAssertTrue(r.isAtEnd)
    }
}
