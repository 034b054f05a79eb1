/// An ordering for heap keys: `precedes(a, b)` when `a` must come out first.
public protocol HeapOrdered {
    static func precedes(_ a: Self, _ b: Self) -> Bool
}

/// A binary min-heap of small keys, shared by the rumour queue and the
/// simulator's event queue: push and pop in O(log n), the first key in O(1).
/// Ties come out in whatever order the keys' `precedes` leaves them, so a key
/// that must be deterministic carries its own tie-breaker (a sequence number).
public struct MinHeap<Key: HeapOrdered>: Sendable where Key: Sendable {
    @usableFromInline var keys: [Key] = []

    public init() {}

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }
    /// The key that comes out next.
    public var first: Key? { keys.first }

    @inlinable
    public mutating func push(_ key: Key) {
        keys.append(key)
        var child = keys.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Key.precedes(key, keys[parent]) else { break }
            keys[child] = keys[parent]
            child = parent
        }
        keys[child] = key
    }

    @inlinable
    public mutating func pop() -> Key? {
        guard let top = keys.first else { return nil }
        let last = keys.removeLast()
        if !keys.isEmpty {
            keys[0] = last
            siftDown(0)
        }
        return top
    }

    /// Replaces the contents with `keys`, heapified in O(n).
    public mutating func rebuild(from newKeys: [Key]) {
        keys = newKeys
        guard keys.count > 1 else { return }
        for index in stride(from: keys.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
    }

    @inlinable
    mutating func siftDown(_ start: Int) {
        var parent = start
        let key = keys[parent]
        let n = keys.count
        while true {
            let left = 2 * parent + 1
            guard left < n else { break }
            let right = left + 1
            let child = right < n && Key.precedes(keys[right], keys[left]) ? right : left
            guard Key.precedes(keys[child], key) else { break }
            keys[parent] = keys[child]
            parent = child
        }
        keys[parent] = key
    }
}
