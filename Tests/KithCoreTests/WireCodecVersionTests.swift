import XCTest
import KithCore

/// What a node does not speak is told apart from what is malformed: the transport skips the first
/// (a newer peer's frame types and versions) and closes the connection on the second.
final class WireCodecVersionTests: XCTestCase {
    func testFramesOfUnknownTypesAndVersionsAreForeignNotMalformed() {
        let ping = WireCodec.encode(.ping(seq: 1, from: NodeID(name: "a", uid: 1), replyTo: "a:1", target: NodeID(name: "b", uid: 2), gossip: []))
        XCTAssertTrue(WireCodec.speaks(ping[...]))
        for type: UInt8 in 1...13 { XCTAssertTrue(WireCodec.speaks([WireCodec.version, type][...]), "type \(type)") }
        for type: UInt8 in [0, 16, 200, 255] { XCTAssertFalse(WireCodec.speaks([WireCodec.version, type][...]), "type \(type)") }
        XCTAssertFalse(WireCodec.speaks(([WireCodec.version + 1] + ping.dropFirst())[...]), "version 2")
        XCTAssertTrue(WireCodec.speaks([][...]), "empty is malformed, for decode to refuse")
        XCTAssertTrue(WireCodec.speaks([7][...]), "one byte is malformed, for decode to refuse")
        XCTAssertTrue(WireCodec.speaks(ping[3...].prefix(0)), "a slice's own indices are used")
        XCTAssertTrue(WireCodec.speaks(([0xEE] + ping)[1...]), "a slice not starting at 0")
    }
}
