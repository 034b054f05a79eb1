import KithCore
import KithUV

/// Writes refusal records through a `RecordLimiter`: at most a few per kind
/// per interval reach the log and the event log, and a `records_suppressed`
/// record with the count follows each window that held some back. Other
/// events pass straight through.
final class RefusalRecorder {
    private let loop: EventLoop
    private let logger: Logger
    private var limiter = RecordLimiter()
    private let timer: Timer
    private var armedForMs: UInt64?

    init(loop: EventLoop, logger: Logger) {
        self.loop = loop
        self.logger = logger
        timer = Timer(loop: loop)
    }

    /// Records `event` unless it is a refusal over its kind's limit.
    func record(_ level: LogLevel, _ event: String, _ fields: [String: JSON]) {
        guard RecordLimiter.limitedKinds.contains(event) else { return logger.record(level, event, fields) }
        let now = loop.nowMilliseconds
        flush(now)
        if limiter.admit(event, nowMs: now) { logger.record(level, event, fields) } else { arm(now) }
    }

    func close() { timer.close() }

    private func flush(_ now: UInt64) {
        for summary in limiter.flush(nowMs: now) {
            logger.record(.warn, "records_suppressed", ["kind": .string(summary.kind), "count": .int(Int64(clamping: summary.suppressed)),
                                                        "interval_ms": .int(Int64(clamping: summary.intervalMs))])
        }
    }

    private func arm(_ now: UInt64) {
        guard let due = limiter.nextFlushMs, due != armedForMs else { return }
        armedForMs = due
        timer.start(afterMilliseconds: due > now ? due - now : 0) { [unowned self] in
            self.armedForMs = nil
            let now = self.loop.nowMilliseconds
            self.flush(now)
            self.arm(now)
        }
    }
}
