import KithCore

/// Something that happens to the simulation at one instant.
enum SimEvent: Sendable {
    /// A node's `nextDeadline` came due. Stale when the node rebooted or
    /// rescheduled since (the generation no longer matches).
    case tick(node: Int, boot: UInt32, generation: UInt64)
    /// A frame reaches the host of `to`. `from`/`fromBoot` say where a
    /// refusal goes if no process listens there any more; `sent` is the
    /// message it encodes (nil for a frame made up by a test).
    case deliver(from: Int, fromBoot: UInt32, to: Int, frame: [UInt8], sent: Message?)
    /// The TCP reset for a connection `node` (boot `boot`) tried to `endpoint`.
    case refused(node: Int, boot: UInt32, endpoint: Endpoint)
    /// Something a `SimulationLayer` scheduled on one boot of a node (an
    /// agent process saying hello, an operator command); held while the
    /// node is paused, dropped once that boot is gone.
    case hook(node: Int, boot: UInt32, token: UInt64)
}

/// A binary min-heap of events ordered by (time, sequence number).
///
/// The sequence number is the order of scheduling, so events at the same
/// instant run first-scheduled first and a run never depends on heap
/// internals. Payloads live in a slab so the heap only moves small keys.
struct EventQueue: Sendable {
    private struct Key: Sendable, HeapOrdered {
        var time: UInt64
        var seq: UInt64
        var slot: Int

        @inline(__always)
        static func precedes(_ a: Key, _ b: Key) -> Bool {
            a.time != b.time ? a.time < b.time : a.seq < b.seq
        }
    }

    private var heap = MinHeap<Key>()
    private var slots: [SimEvent?] = []
    private var freeSlots: [Int] = []
    private var nextSeq: UInt64 = 0

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }
    /// Total events ever scheduled.
    var scheduled: UInt64 { nextSeq }

    /// When the earliest event is due.
    var nextTime: Instant? { heap.first.map { Instant(nanoseconds: $0.time) } }

    mutating func push(_ event: SimEvent, at time: Instant) {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slots[slot] = event
        } else {
            slot = slots.count
            slots.append(event)
        }
        heap.push(Key(time: time.nanoseconds, seq: nextSeq, slot: slot))
        nextSeq += 1
    }

    mutating func pop() -> (time: Instant, event: SimEvent)? {
        guard let top = heap.pop() else { return nil }
        let event = slots[top.slot]!
        slots[top.slot] = nil
        freeSlots.append(top.slot)
        return (Instant(nanoseconds: top.time), event)
    }
}
