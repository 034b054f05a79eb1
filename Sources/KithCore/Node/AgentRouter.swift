/// Messages between agents on their way: agents' own in the `outbox` until
/// the receiving daemon acknowledges them, the receiving side's `inbox` that
/// hands each over once and in order, and the operator's held in a bounded
/// buffer while the receiver is being relaunched, failed with a clear error
/// when the wait is too long. Part of `NodeCore`; time is the core's `now`.
public struct AgentRouter: Sendable {
    public struct Held: Hashable, Sendable {
        public var from: String
        public var payload: [UInt8]
        public var heldAt: Instant
    }

    public private(set) var held: [String: [Held]] = [:]
    public private(set) var heldBytes = 0
    /// Messages held, over every receiver.
    public private(set) var heldCount = 0
    /// Messages given up on: no room to hold them, or held too long.
    public private(set) var dropped: UInt64 = 0
    public internal(set) var outbox = Outbox()
    public internal(set) var inbox = Inbox()
    /// Messages of stale sender copies dropped here (a newer generation is known).
    public internal(set) var fenced: UInt64 = 0
    /// Agents' messages that ended in `send_failed`.
    public internal(set) var failed: UInt64 = 0
    /// Sender copies whose fencing was recorded (once each), `name/generation`.
    var fencingRecorded: Set<String> = []
    static let fencingRecordedMax = 1024

    public static let heldPerAgentMax = 1024
    public static let heldBytesMax = 16 << 20
    /// How long a message waits for its receiver to come back.
    public static let holdDuration: Duration = .seconds(10)

    public init() {}

    /// Queues a message for an agent that cannot take it now; false when the buffer is full.
    mutating func hold(from: String, to: String, payload: [UInt8], now: Instant) -> Bool {
        guard held[to, default: []].count < AgentRouter.heldPerAgentMax,
              heldBytes + payload.count <= AgentRouter.heldBytesMax else {
            dropped += 1
            return false
        }
        held[to, default: []].append(Held(from: from, payload: payload, heldAt: now))
        heldBytes += payload.count
        heldCount += 1
        return true
    }

    /// Takes every message held for `agent`, oldest first.
    mutating func release(_ agent: String) -> [Held] {
        let messages = held.removeValue(forKey: agent) ?? []
        heldBytes -= messages.reduce(0) { $0 + $1.payload.count }
        heldCount -= messages.count
        return messages
    }

    /// Takes messages that waited `holdDuration` or longer, with their intended receiver.
    mutating func expire(now: Instant) -> [(to: String, message: Held)] {
        var expired: [(String, Held)] = []
        for (agent, messages) in held.sorted(by: { $0.key < $1.key }) {
            let old = messages.filter { now.since($0.heldAt) >= AgentRouter.holdDuration }
            guard !old.isEmpty else { continue }
            let fresh = messages.filter { now.since($0.heldAt) < AgentRouter.holdDuration }
            held[agent] = fresh.isEmpty ? nil : fresh
            heldBytes -= old.reduce(0) { $0 + $1.payload.count }
            heldCount -= old.count
            dropped += UInt64(old.count)
            expired += old.map { (agent, $0) }
        }
        return expired
    }

    /// When the oldest held message expires.
    var nextExpiry: Instant? {
        held.values.compactMap { $0.first?.heldAt }.min().map { $0 + AgentRouter.holdDuration }
    }

    /// The buffer's own bounds and bookkeeping.
    func assertInvariants() {
        var bytes = 0
        precondition(held.values.reduce(0) { $0 + $1.count } == heldCount, "router counts \(heldCount) held messages wrongly")
        for (agent, messages) in held {
            precondition(!messages.isEmpty, "router holds an empty queue for \(agent)")
            precondition(messages.count <= AgentRouter.heldPerAgentMax,
                         "router holds \(messages.count) messages for \(agent), above \(AgentRouter.heldPerAgentMax)")
            precondition(zip(messages, messages.dropFirst()).allSatisfy { $0.heldAt <= $1.heldAt },
                         "router queue for \(agent) is not oldest first")
            bytes += messages.reduce(0) { $0 + $1.payload.count }
        }
        precondition(bytes == heldBytes, "router counts \(heldBytes) held bytes, holds \(bytes)")
        precondition(heldBytes <= AgentRouter.heldBytesMax, "router holds \(heldBytes) bytes, above \(AgentRouter.heldBytesMax)")
        precondition(fencingRecorded.count <= AgentRouter.fencingRecordedMax, "router remembers \(fencingRecorded.count) fencings")
        outbox.assertInvariants()
        inbox.assertInvariants()
    }
}
