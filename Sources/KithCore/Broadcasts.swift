/// Rumours waiting to be piggybacked (SWIM 4.1, "infection-style dissemination").
///
/// One rumour per member: a newer rumour about the same member replaces the
/// older. Rumours sent the fewest times go first, and each is dropped after
/// its retransmit limit, so the cost per message stays bounded.
struct Broadcasts: Sendable {
    private struct Entry: Sendable {
        var gossip: Gossip
        var transmits: Int
        var order: UInt64
    }

    private var entries: [String: Entry] = [:]
    private var counter: UInt64 = 0

    var count: Int { entries.count }

    mutating func enqueue(_ gossip: Gossip) {
        counter += 1
        entries[gossip.subject.name] = Entry(gossip: gossip, transmits: 0, order: counter)
    }

    mutating func remove(subject name: String) {
        entries[name] = nil
    }

    /// The rumour about `name`, if one is queued (the buddy system sends it first).
    func pending(about name: String) -> Gossip? { entries[name]?.gossip }

    /// Takes up to `limit` rumours for one message, least-sent and newest first,
    /// counting the transmission and retiring rumours sent `retransmitLimit` times.
    mutating func take(limit: Int, retransmitLimit: Int, first: String? = nil) -> [Gossip] {
        guard limit > 0, !entries.isEmpty else { return [] }
        var chosen: [String] = []
        if let first, entries[first] != nil { chosen.append(first) }
        let rest = entries
            .filter { $0.key != first }
            .sorted { a, b in
                a.value.transmits != b.value.transmits
                    ? a.value.transmits < b.value.transmits : a.value.order > b.value.order
            }
            .prefix(limit - chosen.count)
        chosen.append(contentsOf: rest.map(\.key))
        var out: [Gossip] = []
        out.reserveCapacity(chosen.count)
        for name in chosen {
            guard var entry = entries[name] else { continue }
            out.append(entry.gossip)
            entry.transmits += 1
            entries[name] = entry.transmits >= retransmitLimit ? nil : entry
        }
        return out
    }
}
