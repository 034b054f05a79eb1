import XCTest
@testable import KithUV

final class FrameReaderTests: XCTestCase {
    private let payloads: [[UInt8]] = [[], [1], [1, 2, 3], Array(repeating: 9, count: 300), [0, 0, 0, 0], [10]]

    /// Feeds `stream` in chunks of `chunkSize` bytes and collects every frame and the first violation.
    private func read(
        _ stream: [UInt8], _ framing: Framing, chunkSize: Int
    ) -> (frames: [[UInt8]], violation: String?) {
        var reader = FrameReader(framing: framing)
        var frames: [[UInt8]] = []
        for start in stride(from: 0, to: stream.count, by: chunkSize) {
            let chunk = Array(stream[start..<min(start + chunkSize, stream.count)])
            let result = chunk.withUnsafeBytes { reader.feed($0) }
            frames += result.frames
            if let violation = result.violation { return (frames, violation) }
        }
        return (frames, nil)
    }

    func testLengthPrefixedFramesSurviveEveryChunking() {
        let framing = Framing.lengthPrefixed(maxFrameBytes: 300)
        let stream = payloads.flatMap { framed($0, framing) }
        for chunkSize in [1, 2, 3, 4, 5, 7, 64, stream.count] {
            let result = read(stream, framing, chunkSize: chunkSize)
            XCTAssertEqual(result.frames, payloads, "chunk size \(chunkSize)")
            XCTAssertNil(result.violation)
        }
    }

    func testLinesSurviveEveryChunkingAndLoseTheirNewline() {
        let lines: [[UInt8]] = [Array("hello".utf8), [], Array(repeating: 66, count: 24), [0, 255]]
        let framing = Framing.lines(maxLineBytes: 24)
        let stream = lines.flatMap { framed($0, framing) }
        for chunkSize in [1, 2, 3, 5, 7, stream.count] {
            let result = read(stream, framing, chunkSize: chunkSize)
            XCTAssertEqual(result.frames, lines, "chunk size \(chunkSize)")
            XCTAssertNil(result.violation)
        }
    }

    func testOversizedLengthIsRejectedFromTheHeaderAlone() {
        let result = read([0, 0, 1, 45], .lengthPrefixed(maxFrameBytes: 300), chunkSize: 4)
        XCTAssertEqual(result.frames, [])
        XCTAssertNotNil(result.violation)
    }

    func testFramesBeforeAViolationAreStillDelivered() {
        let framing = Framing.lengthPrefixed(maxFrameBytes: 8)
        let result = read(framed([1, 2], framing) + [0xFF, 0xFF, 0xFF, 0xFF], framing, chunkSize: 64)
        XCTAssertEqual(result.frames, [[1, 2]])
        XCTAssertNotNil(result.violation)
    }

    func testPartialFrameReservesAboutWhatArrivedNotTheLimit() {
        // A peer announces a 4 MiB frame and sends 1,000 bytes of it: we hold about 1,000 bytes.
        let limit = 4 << 20
        var reader = FrameReader(framing: .lengthPrefixed(maxFrameBytes: limit))
        let header: [UInt8] = [0x00, 0x40, 0x00, 0x00]  // 4 MiB exactly
        let result = (header + Array(repeating: 7, count: 1000)).withUnsafeBytes { reader.feed($0) }
        XCTAssertEqual(result.frames, [])
        XCTAssertNil(result.violation)
        XCTAssertGreaterThanOrEqual(reader.partialCapacity, 1004)
        XCTAssertLessThan(reader.partialCapacity, 4 * 1004, "reserved \(reader.partialCapacity) bytes for 1,004 received")
    }

    func testPartialFrameGrowsGeometricallyUpToItsLengthAndCompletes() {
        let length = 300_000
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0) }
        let framing = Framing.lengthPrefixed(maxFrameBytes: 1 << 20)
        let stream = framed(payload, framing)
        var reader = FrameReader(framing: framing)
        var frames: [[UInt8]] = []
        var capacities: Set<Int> = []
        for start in stride(from: 0, to: stream.count, by: 1000) {
            let chunk = Array(stream[start..<min(start + 1000, stream.count)])
            frames += chunk.withUnsafeBytes { reader.feed($0) }.frames
            if frames.isEmpty {
                let received = min(start + 1000, stream.count)
                // Doubling, plus what malloc rounds up (a few percent).
                XCTAssertLessThanOrEqual(reader.partialCapacity, 2 * received + received / 16 + 1024, "after \(received) bytes")
                XCTAssertLessThanOrEqual(reader.partialCapacity, 4 + length + length / 16, "about the frame's own length at most")
                capacities.insert(reader.partialCapacity)
            }
        }
        XCTAssertEqual(frames, [payload])
        // Doubling from ~1 KB to 300 KB takes about nine steps, not one per chunk (amortised copies).
        XCTAssertLessThan(capacities.count, 20, "capacities \(capacities.sorted())")
        XCTAssertEqual(reader.partialCapacity, 0, "a completed frame releases its buffer")
    }

    func testPartialLineReservesAboutWhatArrived() {
        var reader = FrameReader(framing: .lines(maxLineBytes: 1 << 20))
        let result = Array(repeating: UInt8(65), count: 5000).withUnsafeBytes { reader.feed($0) }
        XCTAssertEqual(result.frames, [])
        XCTAssertLessThan(reader.partialCapacity, 4 * 5000)
    }

    func testOverlongLineIsRejectedBeforeItsNewlineArrives() {
        let result = read(Array(repeating: 65, count: 9), .lines(maxLineBytes: 8), chunkSize: 3)
        XCTAssertEqual(result.frames, [])
        XCTAssertNotNil(result.violation)
    }

    func testRawDeliversEachChunkAsItCameAndWritesPayloadsVerbatim() {
        let stream = Array(0...255).map(UInt8.init)
        XCTAssertEqual(read(stream, .raw, chunkSize: 100).frames, [Array(stream[..<100]), Array(stream[100..<200]), Array(stream[200...])])
        XCTAssertEqual(framed([1, 10, 2], .raw), [1, 10, 2])
    }

    func testRandomBytesNeverCrashAndRespectTheBound() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<500 {
            let framing: Framing = round.isMultiple(of: 2)
                ? .lengthPrefixed(maxFrameBytes: Int.random(in: 0...512, using: &generator))
                : .lines(maxLineBytes: Int.random(in: 0...512, using: &generator))
            let bound = switch framing {
            case .lengthPrefixed(let max): max
            case .lines(let max): max
            case .raw: Int.max
            }
            let stream = (0..<Int.random(in: 0...4096, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            let result = read(stream, framing, chunkSize: Int.random(in: 1...600, using: &generator))
            XCTAssertTrue(result.frames.allSatisfy { $0.count <= bound })
        }
    }
}
