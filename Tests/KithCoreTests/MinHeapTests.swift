import XCTest
@testable import KithCore

final class MinHeapTests: XCTestCase {
    private struct Key: HeapOrdered, Equatable {
        var value: UInt64
        var seq: Int
        static func precedes(_ a: Key, _ b: Key) -> Bool { a.value != b.value ? a.value < b.value : a.seq < b.seq }
    }

    /// Interleaved pushes and pops come out as a sort would, ties by their tie-breaker.
    func testPopsInTheOrderASortGivesUnderInterleavedPushesAndPops() {
        var random = SeededRandom(seed: 7)
        var heap = MinHeap<Key>()
        var model: [Key] = []
        for seq in 0..<5_000 {
            if random.next() % 3 == 0 {
                model.sort { Key.precedes($0, $1) }
                XCTAssertEqual(heap.pop(), model.isEmpty ? nil : model.removeFirst())
            } else {
                let key = Key(value: random.next() % 50, seq: seq)
                heap.push(key)
                model.append(key)
            }
            XCTAssertEqual(heap.count, model.count)
        }
        model.sort { Key.precedes($0, $1) }
        XCTAssertEqual(heap.first, model.first)
        var drained: [Key] = []
        while let key = heap.pop() { drained.append(key) }
        XCTAssertEqual(drained, model)
        XCTAssertTrue(heap.isEmpty)
    }

    func testRebuildHeapifiesAnyOrder() {
        var random = SeededRandom(seed: 11)
        let keys = (0..<1_001).map { Key(value: random.next() % 100, seq: $0) }
        var heap = MinHeap<Key>()
        heap.rebuild(from: keys)
        var drained: [Key] = []
        while let key = heap.pop() { drained.append(key) }
        XCTAssertEqual(drained, keys.sorted { Key.precedes($0, $1) })
        heap.rebuild(from: [])
        XCTAssertNil(heap.pop())
    }
}
