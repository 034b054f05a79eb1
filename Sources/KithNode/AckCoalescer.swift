import KithCore
import KithUV

/// Delivery acknowledgements are cumulative, so the receiving daemon sends
/// one per stream per loop turn instead of one per message: the newest of
/// each stream waits at most `delayMilliseconds`, then all go out together.
/// Fenced answers are not coalesced (they go at once, through `send`).
final class AckCoalescer {
    struct Stream: Hashable {
        var endpoint: Endpoint
        var from: String
        var generation: UInt64
        var to: String
    }

    static let delayMilliseconds: UInt64 = 1
    private var waiting: [Stream: UInt64] = [:]
    /// The stream acknowledged last and its newest place, not yet in `waiting`.
    private var last: (stream: Stream, seq: UInt64)?
    private let timer: Timer
    private let send: (Message, Endpoint) -> Void

    init(loop: EventLoop, send: @escaping (Message, Endpoint) -> Void) {
        timer = Timer(loop: loop)
        self.send = send
    }

    /// Keeps the newest acknowledgement of its stream until the timer fires.
    func add(_ ack: MessageAck, to endpoint: Endpoint) {
        let stream = Stream(endpoint: endpoint, from: ack.from, generation: ack.generation, to: ack.to)
        // A burst is mostly one stream: compared, not hashed, until another stream comes.
        if let last, last.stream == stream {
            self.last!.seq = max(last.seq, ack.seq)
            return
        }
        if waiting.isEmpty && last == nil {
            timer.start(afterMilliseconds: AckCoalescer.delayMilliseconds) { [unowned self] in self.flush() }
        }
        if let last { waiting[last.stream] = max(waiting[last.stream] ?? 0, last.seq) }
        last = (stream, ack.seq)
    }

    func flush() {
        if let last { waiting[last.stream] = max(waiting[last.stream] ?? 0, last.seq) }
        last = nil
        let acks = waiting
        waiting.removeAll(keepingCapacity: true)
        for (stream, seq) in acks {
            send(.agentAck(MessageAck(from: stream.from, generation: stream.generation, to: stream.to, seq: seq, outcome: .delivered)),
                 stream.endpoint)
        }
    }
}
