/// Where an agent message stands in its sender's stream, carried with it from
/// daemon to daemon so that it arrives once and in order, or fails by name.
///
/// A stream is one sender copy (`from` at `generation`) to one receiver; `seq`
/// counts from 1. `base` is the oldest place the sending daemon still waits an
/// acknowledgement for: a receiving daemon that never saw the stream (its
/// agent was just relaunched there) starts at `base`, and one that did skips
/// what the sender gave up on. Acknowledgements go to `replyTo`, the sending
/// daemon's gossip endpoint.
public struct DeliveryStamp: Hashable, Sendable {
    public var generation: UInt64
    public var seq: UInt64
    public var base: UInt64
    public var replyTo: Endpoint

    public init(generation: UInt64, seq: UInt64, base: UInt64, replyTo: Endpoint) {
        self.generation = generation
        self.seq = seq
        self.base = base
        self.replyTo = replyTo
    }
}

/// What the event log must say about acknowledged messages and checkpoints,
/// so that a history checker can tell a lost one. One signed record per
/// message would cost the message path, so the core states the facts and the
/// shell coalesces them into ranges per stream (see `DeliveryRecorder`).
public enum DeliveryFact: Hashable, Sendable {
    /// The sender was answered `ok` for its message `seq` of the stream.
    case sendAcknowledged(Outbox.Key, seq: UInt64)
    /// The stream's messages `seqs` ended in `send_failed` for `reason`.
    case sendFailed(Outbox.Key, seqs: [UInt64], reason: String)
    /// The host answered `ok` to the agent's checkpoint `seq` of `generation`.
    case checkpointAcknowledged(agent: String, generation: UInt64, seq: UInt64)
}

/// A receiving daemon's answer about one stream: every message up to `seq`
/// was delivered, or the message `seq` came from a stale copy of its sender
/// (a newer generation is known there) and was dropped.
public struct MessageAck: Hashable, Sendable {
    public enum Outcome: UInt8, Hashable, Sendable {
        case delivered = 0
        case fenced = 1
    }

    public var from: String
    public var generation: UInt64
    public var to: String
    public var seq: UInt64
    public var outcome: Outcome

    public init(from: String, generation: UInt64, to: String, seq: UInt64, outcome: Outcome) {
        self.from = from
        self.generation = generation
        self.to = to
        self.seq = seq
        self.outcome = outcome
    }
}

/// The sending daemon's half: every message its local agents sent, kept
/// until the receiving daemon acknowledges it, resent (oldest first) when no
/// acknowledgement came, and given up on, by name, after `giveUpAfter`.
/// Bounded per sender and in bytes, so a receiver that never answers costs
/// its senders refusals ("retry"), not the daemon's memory.
public struct Outbox: Sendable {
    public struct Key: Hashable, Sendable {
        public var from: String
        public var generation: UInt64
        public var to: String

        public init(from: String, generation: UInt64, to: String) {
            self.from = from
            self.generation = generation
            self.to = to
        }
    }

    public struct Entry: Hashable, Sendable {
        public var seq: UInt64
        public var payload: [UInt8]
        /// The `send` request's `id`, named again in `send_failed`.
        public var id: JSON?
        public var queuedAt: Instant
    }

    struct Stream: Sendable {
        var nextSeq: UInt64 = 1
        /// Unacknowledged entries from `head` on, in `seq` order.
        var entries: [Entry] = []
        var head = 0
        /// When to send the unacknowledged entries again.
        var retryAt: Instant
        /// The receiver's generation when this stream last went out.
        var receiverGeneration: UInt64?
        /// Payload bytes of the unacknowledged entries.
        var bytes = 0

        var pending: ArraySlice<Entry> { entries[head...] }
        var isIdle: Bool { head == entries.count }
        /// The oldest place still waiting.
        var base: UInt64 { isIdle ? nextSeq : entries[head].seq }

        mutating func compact() {
            if head == entries.count {
                entries.removeAll(keepingCapacity: entries.capacity <= 1024)
                head = 0
            } else if head >= 256 && head * 2 >= entries.count {
                entries.removeFirst(head)
                head = 0
            }
        }
    }

    /// Unacknowledged messages of one sender agent, over all its receivers.
    public static let perSenderMax = 16384
    /// Unacknowledged payload bytes on this daemon.
    public static let bytesMax = 32 << 20
    /// Streams at once (idle ones are dropped first).
    public static let streamsMax = 16384
    /// How long an unacknowledged message waits before it is sent again.
    public static let resendAfter: Duration = .milliseconds(500)
    /// How long a message may stay unacknowledged before it fails (`send_failed`).
    public static let giveUpAfter: Duration = .seconds(10)

    private(set) var streams: [Key: Stream] = [:]
    public private(set) var perSender: [String: Int] = [:]
    public private(set) var bytes = 0
    /// Messages waiting for an acknowledgement, over every stream.
    public private(set) var count = 0
    /// Bumped whenever an idle stream gets a message (its resend deadline is new).
    public private(set) var armings: UInt64 = 0

    public init() {}

    /// Why `from` may not queue `size` more bytes now, or nil.
    public func refusal(from: String, size: Int) -> String? {
        if perSender[from, default: 0] >= Outbox.perSenderMax {
            return "\(Outbox.perSenderMax) messages of \(from) wait for acknowledgement; retry"
        }
        if bytes + size > Outbox.bytesMax { return "\(Outbox.bytesMax >> 20) MiB of messages wait for acknowledgement; retry" }
        if streams.count >= Outbox.streamsMax && !streams.values.contains(where: \.isIdle) {
            return "\(Outbox.streamsMax) message streams wait for acknowledgement; retry"
        }
        return nil
    }

    /// Queues a message (the caller checked `refusal`); returns its place.
    mutating func enqueue(_ key: Key, payload: [UInt8], id: JSON?, now: Instant) -> UInt64 {
        if streams[key] == nil, streams.count >= Outbox.streamsMax, let idle = streams.first(where: { $0.value.isIdle }) {
            streams[idle.key] = nil
        }
        // One access to the stream (the hot path): a new message always goes last.
        let (seq, armed) = Outbox.append(payload, id: id, now: now, to: &streams[key, default: Stream(retryAt: now)])
        if armed { armings &+= 1 }
        perSender[key.from, default: 0] += 1
        bytes += payload.count
        count += 1
        return seq
    }

    /// Appends a new message to `stream`: its place, and whether the stream was idle (its resend deadline is new).
    private static func append(_ payload: [UInt8], id: JSON?, now: Instant, to stream: inout Stream) -> (seq: UInt64, armed: Bool) {
        let seq = stream.nextSeq
        let armed = stream.isIdle
        if armed { stream.retryAt = now + Outbox.resendAfter }
        stream.entries.append(Entry(seq: seq, payload: payload, id: id, queuedAt: now))
        stream.bytes += payload.count
        stream.nextSeq = seq + 1
        return (seq, armed)
    }

    /// Puts back an entry whose local delivery failed after `acknowledge` took it.
    mutating func restore(_ key: Key, _ entry: Entry, now: Instant) {
        guard let stream = streams[key], entry.seq < stream.nextSeq,
              !stream.pending.contains(where: { $0.seq == entry.seq }) else { return }
        insert(key, entry, now: now)
    }

    /// Takes back the newest message of a stream, refused before it left (its sender was told to retry).
    mutating func retract(_ key: Key, seq: UInt64) {
        guard var stream = streams.removeValue(forKey: key) else { return }
        if let last = stream.entries.last, stream.head < stream.entries.count, last.seq == seq, seq + 1 == stream.nextSeq {
            stream.entries.removeLast()
            stream.bytes -= last.payload.count
            bytes -= last.payload.count
            stream.nextSeq = seq
            forget(1, of: key.from)
            stream.compact()
        }
        streams[key] = stream
    }

    private mutating func insert(_ key: Key, _ entry: Entry, now: Instant) {
        var stream = streams.removeValue(forKey: key) ?? Stream(retryAt: now)
        if stream.isIdle {
            stream.retryAt = now + Outbox.resendAfter
            armings &+= 1
        }
        if stream.entries.last.map({ $0.seq < entry.seq }) ?? true {
            stream.entries.append(entry)
        } else {
            stream.entries.insert(entry, at: stream.pending.firstIndex { $0.seq > entry.seq } ?? stream.entries.endIndex)
        }
        stream.bytes += entry.payload.count
        streams[key] = stream
        perSender[key.from, default: 0] += 1
        bytes += entry.payload.count
        count += 1
    }

    /// Notes where the stream goes now: true when its waiting messages go to a newer copy of the receiver.
    mutating func noteReceiver(_ key: Key, generation: UInt64) -> Bool {
        guard var stream = streams[key], stream.receiverGeneration != generation else { return false }
        let moved = stream.receiverGeneration.map { $0 < generation } ?? false
        stream.receiverGeneration = generation
        streams[key] = stream
        return moved && !stream.isIdle
    }

    public func pending(_ key: Key) -> ArraySlice<Entry> { streams[key]?.pending ?? [] }

    public func base(_ key: Key) -> UInt64 { streams[key]?.base ?? 1 }

    /// Streams with messages waiting for `receiver`.
    public func keys(to receiver: String) -> [Key] {
        streams.filter { $0.key.to == receiver && !$0.value.isIdle }.map(\.key).sorted { ($0.from, $0.generation) < ($1.from, $1.generation) }
    }

    /// Takes every entry up to `seq`: they were delivered.
    mutating func acknowledge(_ key: Key, upTo seq: UInt64, now: Instant) {
        guard var stream = streams.removeValue(forKey: key) else { return }
        var taken = 0
        while stream.head + taken < stream.entries.count, stream.entries[stream.head + taken].seq <= seq {
            bytes -= stream.entries[stream.head + taken].payload.count
            stream.bytes -= stream.entries[stream.head + taken].payload.count
            taken += 1
        }
        stream.head += taken
        // The receiver is answering: what is still unacknowledged gets a full resend interval from now.
        if taken > 0 { stream.retryAt = now + Outbox.resendAfter }
        stream.compact()
        forget(taken, of: key.from)
        streams[key] = stream
    }

    /// Takes every unacknowledged entry of the stream: they failed.
    mutating func fail(_ key: Key) -> [Entry] {
        guard var stream = streams.removeValue(forKey: key) else { return [] }
        let failed = Array(stream.pending)
        bytes -= stream.bytes
        stream.bytes = 0
        stream.head = stream.entries.count
        stream.compact()
        forget(failed.count, of: key.from)
        streams[key] = stream
        return failed
    }

    /// Takes the entries queued `giveUpAfter` ago or earlier, oldest first per stream.
    mutating func expire(now: Instant) -> [(Key, Entry)] {
        var expired: [(Key, Entry)] = []
        for key in streams.keys.sorted(by: { ($0.from, $0.generation, $0.to) < ($1.from, $1.generation, $1.to) }) {
            guard var stream = streams[key] else { continue }
            var taken = 0
            while stream.head + taken < stream.entries.count,
                  now.since(stream.entries[stream.head + taken].queuedAt) >= Outbox.giveUpAfter {
                let entry = stream.entries[stream.head + taken]
                bytes -= entry.payload.count
                stream.bytes -= entry.payload.count
                expired.append((key, entry))
                taken += 1
            }
            guard taken > 0 else { continue }
            stream.head += taken
            stream.compact()
            forget(taken, of: key.from)
            streams[key] = stream
        }
        return expired
    }

    /// Streams whose unacknowledged entries are due to be sent again; each is re-armed.
    mutating func dueForResend(now: Instant) -> [Key] {
        let due = streams.filter { !$0.value.isIdle && $0.value.retryAt <= now }.map(\.key)
            .sorted { ($0.from, $0.generation, $0.to) < ($1.from, $1.generation, $1.to) }
        for key in due { streams[key]!.retryAt = now + Outbox.resendAfter }
        return due
    }

    /// The next resend or give-up, whichever is first.
    public var nextDeadline: Instant? {
        var next: Instant?
        for stream in streams.values where !stream.isIdle {
            let due = min(stream.retryAt, stream.entries[stream.head].queuedAt + Outbox.giveUpAfter)
            if next.map({ due < $0 }) ?? true { next = due }
        }
        return next
    }

    private mutating func forget(_ taken: Int, of sender: String) {
        guard taken > 0 else { return }
        count -= taken
        let left = perSender[sender, default: 0] - taken
        perSender[sender] = left > 0 ? left : nil
    }

    /// Counts match the streams'; each stream's entries lie below its next place (checked
    /// per stream, not per entry: this runs after every input of a debug build).
    func assertInvariants() {
        var total = 0
        var byteTotal = 0
        var senders: [String: Int] = [:]
        for (key, stream) in streams {
            let pending = stream.pending
            precondition((pending.first?.seq ?? 0) <= (pending.last?.seq ?? 0), "outbox stream \(key) is out of order")
            precondition(pending.last.map { $0.seq < stream.nextSeq } ?? true, "outbox stream \(key) holds a place not yet given")
            precondition(stream.bytes >= 0 && (stream.bytes == 0 || !pending.isEmpty), "outbox stream \(key) counts \(stream.bytes) bytes")
            total += pending.count
            byteTotal += stream.bytes
            if !pending.isEmpty { senders[key.from, default: 0] += pending.count }
        }
        precondition(total == count, "outbox counts \(count) messages, holds \(total)")
        precondition(byteTotal == bytes, "outbox counts \(bytes) bytes, holds \(byteTotal)")
        precondition(senders == perSender, "outbox per-sender counts drifted")
        precondition(streams.count <= Outbox.streamsMax, "outbox holds \(streams.count) streams")
    }
}

/// The receiving daemon's half: per sender and receiver, the newest sender
/// generation seen and the next place expected, so each message is handed to
/// the receiver once and in order. A bounded window (least recently used
/// streams are forgotten; one forgotten restarts at the sender's `base`).
public struct Inbox: Sendable {
    /// One sending daemon's stream: two copies of a sender at once (split
    /// brain, until the merge stops one) number their messages apart.
    public struct Key: Hashable, Sendable {
        public var from: String
        public var to: String
        public var via: Endpoint
    }

    struct State: Hashable, Sendable {
        var generation: UInt64
        var expected: UInt64
        var lastUsed: UInt64
    }

    /// What to do with one stamped message.
    public enum Verdict: Hashable, Sendable {
        /// Hand it over: it is the next one.
        case deliver
        /// Already handed over: acknowledge again up to `upTo` (0: nothing yet).
        case duplicate(upTo: UInt64)
        /// An earlier one is missing: drop it; the sender sends again in order.
        case early
        /// A newer copy of the sender exists (generation `newest`): drop it and say so.
        case fenced(newest: UInt64)
    }

    public static let streamsMax = 65536

    private(set) var streams: [Key: State] = [:]
    private var clock: UInt64 = 0

    public init() {}

    /// Decides about one message; `newestKnown` is the sender's newest generation the registry knows.
    mutating func admit(from: String, to: String, _ stamp: DeliveryStamp, newestKnown: UInt64) -> Verdict {
        let key = Key(from: from, to: to, via: stamp.replyTo)
        clock &+= 1
        var state = streams[key] ?? State(generation: stamp.generation, expected: stamp.base, lastUsed: clock)
        let newest = max(newestKnown, state.generation)
        if stamp.generation < newest { return .fenced(newest: newest) }
        if stamp.generation > state.generation {
            state = State(generation: stamp.generation, expected: stamp.base, lastUsed: clock)
        }
        state.lastUsed = clock
        state.expected = max(state.expected, stamp.base)
        let verdict: Verdict
        if stamp.seq < state.expected {
            verdict = .duplicate(upTo: state.expected - 1)
        } else if stamp.seq > state.expected {
            verdict = .early
        } else {
            verdict = .deliver
            state.expected += 1
        }
        if streams[key] == nil && streams.count >= Inbox.streamsMax, let oldest = streams.min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
            streams[oldest.key] = nil
        }
        streams[key] = state
        return verdict
    }

    /// A delivery `admit` allowed did not happen: expect that message again.
    mutating func undo(from: String, to: String, _ stamp: DeliveryStamp) {
        let key = Key(from: from, to: to, via: stamp.replyTo)
        guard var state = streams[key], state.generation == stamp.generation, stamp.seq < state.expected else { return }
        state.expected = stamp.seq
        streams[key] = state
    }

    func assertInvariants() {
        precondition(streams.count <= Inbox.streamsMax, "inbox holds \(streams.count) streams")
    }
}
