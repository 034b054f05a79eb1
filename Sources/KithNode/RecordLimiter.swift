/// How many refusal records of one kind reach the event log: a flood of
/// forged frames or refused commands must not become a flood of records.
///
/// Every refusal is still counted (status and metrics, elsewhere); this only
/// decides which get a record. Each kind has windows of `intervalMs`: the
/// first `perInterval` refusals of a window are recorded, the rest only
/// counted here, and a window that suppressed some is reported once it ends
/// (`flush`), with the count. Pure: time comes in as milliseconds.
struct RecordLimiter {
    /// One kind's current window.
    struct Window: Equatable {
        var startMs: UInt64
        var recorded: Int
        var suppressed: UInt64
    }

    /// A window that ended having suppressed `suppressed` records of `kind`.
    struct Summary: Equatable {
        var kind: String
        var suppressed: UInt64
        var intervalMs: UInt64
    }

    /// Refusals from the network and the control port; other events are never limited.
    static let limitedKinds: Set<String> = ["forged_refused", "command_refused", "frame_unauthenticated",
                                            "frame_replayed", "frame_unknown", "frame_rejected"]
    /// Enough for any honest burst (a mistyped script, a peer with a stale key) to be recorded whole.
    static let perIntervalDefault = 20
    static let intervalMsDefault: UInt64 = 10_000

    let perInterval: Int
    let intervalMs: UInt64
    private(set) var windows: [String: Window] = [:]

    init(perInterval: Int = RecordLimiter.perIntervalDefault, intervalMs: UInt64 = RecordLimiter.intervalMsDefault) {
        precondition(perInterval > 0 && intervalMs > 0, "a limiter that records nothing")
        self.perInterval = perInterval
        self.intervalMs = intervalMs
    }

    /// Whether a refusal of `kind` at `nowMs` gets a record. Call `flush` first, so that an ended
    /// window's suppressed count is reported before a new window starts.
    mutating func admit(_ kind: String, nowMs: UInt64) -> Bool {
        guard var window = windows[kind], nowMs < window.startMs &+ intervalMs, nowMs >= window.startMs else {
            windows[kind] = Window(startMs: nowMs, recorded: 1, suppressed: 0)
            return true
        }
        defer { windows[kind] = window }
        guard window.recorded < perInterval else {
            window.suppressed = window.suppressed == .max ? .max : window.suppressed + 1
            return false
        }
        window.recorded += 1
        return true
    }

    /// The windows that ended by `nowMs` and suppressed records, each reported once; ended windows are forgotten.
    mutating func flush(nowMs: UInt64) -> [Summary] {
        var summaries: [Summary] = []
        for (kind, window) in windows where nowMs >= window.startMs &+ intervalMs || nowMs < window.startMs {
            if window.suppressed > 0 { summaries.append(Summary(kind: kind, suppressed: window.suppressed, intervalMs: intervalMs)) }
            windows[kind] = nil
        }
        return summaries.sorted { $0.kind < $1.kind }
    }

    /// When the earliest window with suppressed records ends, so a timer can report it.
    var nextFlushMs: UInt64? {
        windows.values.filter { $0.suppressed > 0 }.map { $0.startMs &+ intervalMs }.min()
    }
}
