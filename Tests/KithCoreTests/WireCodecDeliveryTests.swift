import XCTest
@testable import KithCore

/// Delivery fields on the wire: a message's stamp (type 9) and the receiving
/// daemon's acknowledgement (type 13), their layout, limits and hostile bytes.
final class WireCodecDeliveryTests: XCTestCase {
    private let stamp = DeliveryStamp(generation: 2, seq: 300, base: 299, replyTo: "n1:7946")

    private var messages: [Message] {
        [
            .agentMessage(from: "s1", to: "b1", payload: Array("{\"n\":1}".utf8), stamp: stamp),
            .agentMessage(from: "gärtner", to: "東京", payload: [], stamp: DeliveryStamp(generation: WireCodec.counterMax,
                                                                                      seq: WireCodec.counterMax, base: 1, replyTo: "")),
            .agentAck(MessageAck(from: "s1", generation: 2, to: "b1", seq: 300, outcome: .delivered)),
            .agentAck(MessageAck(from: "", generation: WireCodec.counterMax, to: "東京", seq: WireCodec.counterMax, outcome: .fenced)),
        ]
    }

    func test_roundTrip_shouldKeepEveryField() throws {
        for message in messages {
            XCTAssertEqual(try WireCodec.decode(WireCodec.encode(message)), message)
        }
    }

    func test_encode_shouldMatchGoldenBytes() {
        XCTAssertEqual(WireCodec.encode(.agentMessage(from: "a", to: "b", payload: [7],
                                                      stamp: DeliveryStamp(generation: 2, seq: 300, base: 1, replyTo: "e"))),
                       [1, 9, 1, 0x61, 1, 0x62, 1, 7, 1, 2, 0xAC, 0x02, 1, 1, 0x65])
        XCTAssertEqual(WireCodec.encode(.agentAck(MessageAck(from: "a", generation: 2, to: "b", seq: 3, outcome: .fenced))),
                       [1, 13, 1, 0x61, 1, 0x62, 2, 3, 1])
    }

    func test_decode_shouldRefuseImpossibleStampsAndAcks() {
        let head: [UInt8] = [1, 9, 1, 0x61, 1, 0x62, 0]
        XCTAssertEqual(decodeError(head + [2])?.message, "bad stamp flag 2")
        XCTAssertEqual(decodeError(head + [1, 2, 0, 0, 0])?.message, "message seq 0")
        XCTAssertEqual(decodeError(head + [1, 2, 5, 0, 0])?.message, "message base 0")
        XCTAssertNotNil(decodeError(head + [1, 2, 5, 6, 0]), "a base past seq")
        XCTAssertNotNil(decodeError(head), "a message without its stamp flag")
        let ack: [UInt8] = [1, 13, 1, 0x61, 1, 0x62, 2]
        XCTAssertEqual(decodeError(ack + [0, 0])?.message, "acknowledgement of seq 0")
        XCTAssertEqual(decodeError(ack + [3, 2])?.message, "unknown acknowledgement outcome 2")
        XCTAssertNotNil(decodeError(ack + [3, 0, 0]), "trailing bytes")
        let long = String(repeating: "x", count: WireCodec.maxAgentNameBytes + 1)
        let bad = MessageAck(from: long, generation: 1, to: "b", seq: 1, outcome: .delivered)
        XCTAssertEqual(decodeError(WireCodec.encode(.agentAck(bad), checkingLimits: false))?.message, "length 65 exceeds limit 64")
    }

    func test_decode_ofMutatedFrames_shouldNeverTrap_andStayCanonical() {
        decodeMutations(of: messages, rounds: 2000, seed: 13)
    }
}
