import KithCore
import KithUV

/// Frames held back by a `delay` fault, released in time order by one timer.
final class DelayLine {
    private struct Held {
        var dueMs: UInt64
        var message: Message
        var endpoint: Endpoint
    }

    private let loop: EventLoop
    private let timer: Timer
    private let release: (Message, Endpoint) -> Void
    private var held: [Held] = []
    private(set) var overflowed: UInt64 = 0

    /// A bound, so a long delay on a busy link cannot grow memory without end.
    static let heldMax = 10_000

    init(loop: EventLoop, release: @escaping (Message, Endpoint) -> Void) {
        self.loop = loop
        self.timer = Timer(loop: loop)
        self.release = release
    }

    func hold(_ message: Message, to endpoint: Endpoint, forMs delay: UInt64) {
        guard held.count < DelayLine.heldMax else { overflowed += 1; return }
        let due = loop.nowMilliseconds + delay
        let index = held.firstIndex { $0.dueMs > due } ?? held.endIndex
        held.insert(Held(dueMs: due, message: message, endpoint: endpoint), at: index)
        arm()
    }

    private func arm() {
        guard let first = held.first else { timer.stop(); return }
        let now = loop.nowMilliseconds
        timer.start(afterMilliseconds: first.dueMs > now ? first.dueMs - now : 0) { [unowned self] in
            let now = self.loop.nowMilliseconds
            while let next = self.held.first, next.dueMs <= now {
                self.held.removeFirst()
                self.release(next.message, next.endpoint)
            }
            self.arm()
        }
    }
}
