import KithCore

/// Messages between agents: delivered to wherever the receiver runs now,
/// held in a bounded buffer while it is being relaunched, failed with a
/// clear error when the wait is too long.
struct AgentRouter {
    struct Held {
        var from: String
        var payload: [UInt8]
        var heldAtMs: UInt64
    }

    private(set) var held: [String: [Held]] = [:]
    private(set) var heldBytes = 0
    private(set) var delivered: UInt64 = 0
    private(set) var dropped: UInt64 = 0

    static let heldPerAgentMax = 1024
    static let heldBytesMax = 16 << 20
    /// How long a message waits for its receiver to come back.
    static let holdMs: UInt64 = 10_000

    /// Queues a message for an agent that cannot take it now; false when the buffer is full.
    mutating func hold(from: String, to: String, payload: [UInt8], nowMs: UInt64) -> Bool {
        guard held[to, default: []].count < AgentRouter.heldPerAgentMax,
              heldBytes + payload.count <= AgentRouter.heldBytesMax else {
            dropped += 1
            return false
        }
        held[to, default: []].append(Held(from: from, payload: payload, heldAtMs: nowMs))
        heldBytes += payload.count
        return true
    }

    /// Takes every message held for `agent`, oldest first.
    mutating func release(_ agent: String) -> [Held] {
        let messages = held.removeValue(forKey: agent) ?? []
        heldBytes -= messages.reduce(0) { $0 + $1.payload.count }
        return messages
    }

    /// Takes messages that waited too long, with their intended receiver.
    mutating func expire(nowMs: UInt64) -> [(to: String, message: Held)] {
        var expired: [(String, Held)] = []
        for (agent, messages) in held.sorted(by: { $0.key < $1.key }) {
            let (old, fresh) = (messages.filter { nowMs - $0.heldAtMs >= AgentRouter.holdMs },
                                messages.filter { nowMs - $0.heldAtMs < AgentRouter.holdMs })
            guard !old.isEmpty else { continue }
            held[agent] = fresh.isEmpty ? nil : fresh
            heldBytes -= old.reduce(0) { $0 + $1.payload.count }
            dropped += UInt64(old.count)
            expired += old.map { (agent, $0) }
        }
        return expired
    }

    mutating func countDelivered() { delivered += 1 }

    /// A receiver that stops reading fills its bounded queue; what does not fit is dropped and counted.
    mutating func countDropped() { dropped += 1 }
}
