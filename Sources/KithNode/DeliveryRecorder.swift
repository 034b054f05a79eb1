import KithCore
import KithJSON
import KithUV

/// The event log's account of acknowledged messages and checkpoints, in few
/// signed records: one per run of consecutive places of a stream (not one per
/// message), written at most `intervalMilliseconds` after the fact, and the
/// newest checkpoint acknowledgement per agent per interval.
///
/// What a crash loses must not look like a loss to the history checker:
/// - `messages_delivered` (receiving side) is written before the
///   acknowledgement that covers it leaves (`Node.acks` calls
///   `flushDelivered` before each one), so a delivery the log does not show was never
///   acknowledged: the sender's daemon sends it again or fails it by name.
/// - `messages_acknowledged` and `send_failed` (sending side) lost in a crash
///   only shorten what the checker judges; a recorded `ok` whose outcome the
///   crash lost belongs to a sending daemon that went down, which the checker
///   excuses (the README's guarantee: such a message is lost with its sender).
/// - `checkpoint_acknowledged` written late is judged only against spawns
///   after it, so a spawn inside the window is judged against an older
///   acknowledgement, never against one the log does not yet hold.
final class DeliveryRecorder {
    /// One sending daemon's stream (`via`: its gossip endpoint; two copies of one generation, which a
    /// split can start, number their messages apart, each from its own daemon).
    struct Stream: Hashable {
        var from: String
        var generation: UInt64
        var to: String
        var via: Endpoint
    }

    /// A run of consecutive places `first...last` of one stream.
    struct Run {
        var first: UInt64
        var last: UInt64
    }

    static let intervalMilliseconds: UInt64 = 1000

    private let record: (String, [String: JSON]) -> Void
    /// This daemon's endpoint: the `via` of the streams it sends.
    private let endpoint: () -> Endpoint
    private let timer: Timer
    private var armed = false
    private var acknowledged: [Stream: Run] = [:]
    private var failed: [Stream: (run: Run, reason: String)] = [:]
    /// Keyed by the stream and the receiving copy's generation.
    private var delivered: [Stream: [UInt64: Run]] = [:]
    private var checkpoints: [String: (generation: UInt64, seq: UInt64)] = [:]
    /// The stream acknowledged last with its growing run, never also in `acknowledged`.
    private var lastAcknowledged: (stream: Stream, run: Run)?
    /// The stream and receiving copy delivered to last with its growing run, never also in `delivered`.
    private var lastDelivered: (stream: Stream, generation: UInt64, run: Run)?

    init(loop: EventLoop, endpoint: @escaping () -> Endpoint, record: @escaping (String, [String: JSON]) -> Void) {
        timer = Timer(loop: loop)
        self.endpoint = endpoint
        self.record = record
    }

    func apply(_ fact: DeliveryFact) {
        switch fact {
        case let .sendAcknowledged(key, seq):
            acknowledged(Stream(from: key.from, generation: key.generation, to: key.to, via: endpoint()), seq: seq)
        case let .sendFailed(key, seqs, reason):
            let stream = Stream(from: key.from, generation: key.generation, to: key.to, via: endpoint())
            for seq in seqs { failed(stream, seq: seq, reason: reason) }
        case let .checkpointAcknowledged(agent, generation, seq):
            if let newest = checkpoints[agent], (newest.generation, newest.seq) >= (generation, seq) { return }
            checkpoints[agent] = (generation, seq)
            arm()
        }
    }

    /// The sending agent was answered `ok` for `seq`.
    func acknowledged(_ stream: Stream, seq: UInt64) {
        // A burst is mostly one stream: its run grows outside the table, compared rather than hashed.
        if let last = lastAcknowledged, last.stream == stream {
            if seq == last.run.last + 1 { lastAcknowledged!.run.last = seq; return }
            write("messages_acknowledged", stream, last.run)
            lastAcknowledged!.run = Run(first: seq, last: seq)
            return
        }
        if let last = lastAcknowledged { acknowledged[last.stream] = last.run }
        lastAcknowledged = nil
        if let run = acknowledged.removeValue(forKey: stream) {
            if seq == run.last + 1 { lastAcknowledged = (stream, Run(first: run.first, last: seq)); return }
            write("messages_acknowledged", stream, run)
        }
        lastAcknowledged = (stream, Run(first: seq, last: seq))
        arm()
    }

    /// The receiving copy `generation` of `stream.to` was handed `seq`.
    func delivered(_ stream: Stream, to generation: UInt64, seq: UInt64) {
        if let last = lastDelivered, last.generation == generation, last.stream == stream {
            if seq == last.run.last + 1 { lastDelivered!.run.last = seq; return }
            write("messages_delivered", stream, last.run, ["to_generation": .int(Int64(generation))])
            lastDelivered!.run = Run(first: seq, last: seq)
            return
        }
        if let last = lastDelivered { delivered[last.stream, default: [:]][last.generation] = last.run }
        lastDelivered = nil
        if let run = delivered[stream]?.removeValue(forKey: generation) {
            if seq == run.last + 1 { lastDelivered = (stream, generation, Run(first: run.first, last: seq)); return }
            write("messages_delivered", stream, run, ["to_generation": .int(Int64(generation))])
        }
        lastDelivered = (stream, generation, Run(first: seq, last: seq))
        arm()
    }

    private func failed(_ stream: Stream, seq: UInt64, reason: String) {
        if let (run, was) = failed[stream] {
            if seq == run.last + 1 && reason == was { failed[stream]!.run.last = seq; return }
            write("send_failed", stream, run, ["reason": .string(was)])
        }
        failed[stream] = (Run(first: seq, last: seq), reason)
        arm()
    }

    /// Writes the deliveries not yet recorded: before any acknowledgement of them leaves.
    func flushDelivered() {
        if let last = lastDelivered {
            write("messages_delivered", last.stream, last.run, ["to_generation": .int(Int64(last.generation))])
            lastDelivered = nil
        }
        guard !delivered.isEmpty else { return }
        for (stream, copies) in delivered {
            for (generation, run) in copies {
                write("messages_delivered", stream, run, ["to_generation": .int(Int64(generation))])
            }
        }
        delivered.removeAll(keepingCapacity: true)
    }

    /// Writes everything waiting (the timer, and a graceful stop).
    func flush() {
        armed = false
        timer.stop()
        flushDelivered()
        if let last = lastAcknowledged { write("messages_acknowledged", last.stream, last.run) }
        lastAcknowledged = nil
        for (stream, run) in acknowledged { write("messages_acknowledged", stream, run) }
        acknowledged.removeAll(keepingCapacity: true)
        for (stream, (run, reason)) in failed { write("send_failed", stream, run, ["reason": .string(reason)]) }
        failed.removeAll(keepingCapacity: true)
        for (agent, newest) in checkpoints.sorted(by: { $0.key < $1.key }) {
            record("checkpoint_acknowledged", ["agent": .string(agent), "generation": .int(Int64(newest.generation)),
                                               "checkpoint_seq": .int(Int64(newest.seq))])
        }
        checkpoints.removeAll()
    }

    func close() {
        flush()
        timer.close()
    }

    private func arm() {
        guard !armed else { return }
        armed = true
        timer.start(afterMilliseconds: Self.intervalMilliseconds) { [unowned self] in self.flush() }
    }

    private func write(_ event: String, _ stream: Stream, _ run: Run, _ extra: [String: JSON] = [:]) {
        var fields = extra
        fields["from"] = .string(stream.from)
        fields["generation"] = .int(Int64(stream.generation))
        fields["to"] = .string(stream.to)
        fields["via"] = .string(stream.via)
        fields["first_seq"] = .int(Int64(run.first))
        fields["last_seq"] = .int(Int64(run.last))
        record(event, fields)
    }
}
