/// Rumours waiting to be piggybacked (SWIM 4.1, "infection-style dissemination").
///
/// One rumour per member: a newer rumour about the same member replaces the
/// older. Rumours sent the fewest times go first, and each is dropped after
/// its retransmit limit, so the cost per message stays bounded.
///
/// A binary min-heap of (transmits, newest first) keys makes `take`
/// O(limit · log n) instead of a sort of the whole queue per message (which
/// dominated simulations of 500+ nodes). Replaced, removed and sent rumours
/// leave stale keys behind; a key is live only while it matches its entry, and
/// the heap is rebuilt when stale keys outnumber live ones.
struct Broadcasts: Sendable {
    private struct Entry: Sendable {
        var gossip: Gossip
        var transmits: Int
        var order: UInt64
    }

    /// Heap key: sorts least-sent first, then newest (largest `order`) first.
    private struct Key: Sendable, HeapOrdered {
        var transmits: Int
        var order: UInt64
        var name: String

        @inline(__always)
        static func precedes(_ a: Key, _ b: Key) -> Bool {
            a.transmits != b.transmits ? a.transmits < b.transmits : a.order > b.order
        }
    }

    private var entries: [String: Entry] = [:]
    private var heap = MinHeap<Key>()
    private var counter: UInt64 = 0

    var count: Int { entries.count }

    mutating func enqueue(_ gossip: Gossip) {
        counter += 1
        let name = gossip.subject.name
        entries[name] = Entry(gossip: gossip, transmits: 0, order: counter)
        heap.push(Key(transmits: 0, order: counter, name: name))
        compactIfStale()
    }

    mutating func remove(subject name: String) {
        entries[name] = nil
        compactIfStale()
    }

    /// The rumour about `name`, if one is queued (the buddy system sends it first).
    func pending(about name: String) -> Gossip? { entries[name]?.gossip }

    /// Takes up to `limit` rumours for one message, least-sent and newest first,
    /// counting the transmission and retiring rumours sent `retransmitLimit` times.
    mutating func take(limit: Int, retransmitLimit: Int, first: String? = nil) -> [Gossip] {
        guard limit > 0, !entries.isEmpty else { return [] }
        var chosen: [String] = []
        chosen.reserveCapacity(min(limit, entries.count))
        if let first, entries[first] != nil { chosen.append(first) }
        while chosen.count < limit, let key = popLive() {
            if key.name != first { chosen.append(key.name) }
        }
        var out: [Gossip] = []
        out.reserveCapacity(chosen.count)
        for name in chosen {
            guard var entry = entries[name] else { continue }
            out.append(entry.gossip)
            entry.transmits += 1
            if entry.transmits >= retransmitLimit {
                entries[name] = nil
            } else {
                entries[name] = entry
                heap.push(Key(transmits: entry.transmits, order: entry.order, name: name))
            }
        }
        compactIfStale()
        return out
    }

    /// Whether `key` still describes its member's queued rumour.
    private func isLive(_ key: Key) -> Bool {
        guard let entry = entries[key.name] else { return false }
        return entry.order == key.order && entry.transmits == key.transmits
    }

    /// Pops stale keys, then the first live one (removed from the heap; the caller re-pushes it).
    private mutating func popLive() -> Key? {
        while let top = heap.pop() {
            if isLive(top) { return top }
        }
        return nil
    }

    /// Rebuilds the heap from the entries once stale keys outnumber live ones,
    /// so memory stays O(queued rumours).
    private mutating func compactIfStale() {
        guard heap.count > 2 * entries.count + 32 else { return }
        heap.rebuild(from: entries.map { name, entry in Key(transmits: entry.transmits, order: entry.order, name: name) })
        assert(heap.count == entries.count)
    }
}
