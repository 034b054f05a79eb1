import KithCore
import XCTest
@testable import KithNode

/// Several payloads per frame: one payload travels as is, a batch splits back exactly, and a
/// malformed batch is refused whole.
final class FrameBatchTests: XCTestCase {
    private let ping = WireCodec.encode(.nack(seq: 7, from: NodeID(name: "n1", uid: 1)))

    func testOnePayloadIsSentAsIsAndABatchSplitsBackInOrder() throws {
        XCTAssertEqual(FrameBatch.encode([ping]), ping)
        XCTAssertEqual(FrameBatch.split(ping[...]).map { $0.map(Array.init) }, [ping])
        let big = [UInt8](repeating: 1, count: 300)
        let batch = FrameBatch.encode([ping, big, [1, 3]])
        XCTAssertEqual(batch.first, FrameBatch.marker)
        XCTAssertEqual(batch.count, 1 + (1 + ping.count) + (2 + 300) + (1 + 2), "one to three bytes of length per payload")
        let parts = try XCTUnwrap(FrameBatch.split(batch[...]))
        XCTAssertEqual(parts.map(Array.init), [ping, big, [1, 3]])
    }

    func testMalformedBatchesAreRefusedWhole() {
        let marker = FrameBatch.marker
        for (what, frame) in [("empty batch", [marker]), ("length past the end", [marker, 5, 1, 1]),
                              ("empty payload", [marker, 0]), ("nested batch", [marker, 2, marker, 0]),
                              ("overlong length", [marker, 0x81, 0x00, 1])] as [(String, [UInt8])] {
            XCTAssertNil(FrameBatch.split(frame[...]), what)
        }
    }
}
