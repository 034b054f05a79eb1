import KithCore

/// How loud the daemon is.
public enum LogLevel: String, Sendable, Comparable, CaseIterable {
    case debug, info, warn, error

    var rank: Int { LogLevel.allCases.firstIndex(of: self) ?? 0 }
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rank < b.rank }
}

/// Structured log lines (one JSON object each), so that labs and tests can
/// grep and parse what a daemon did. The sink is injected: the daemon writes
/// to stderr, tests capture lines in memory.
public struct Logger: Sendable {
    public var level: LogLevel
    public var fields: [String: JSON]
    private let sink: @Sendable (String) -> Void
    private let clock: @Sendable () -> Int64
    /// Where ground-truth events also go (the node's event log), if anywhere.
    private var recorder: (@Sendable (String, [String: JSON], Int64) -> Void)?

    public init(level: LogLevel, fields: [String: JSON] = [:], clock: @escaping @Sendable () -> Int64,
                sink: @escaping @Sendable (String) -> Void) {
        self.level = level
        self.fields = fields
        self.clock = clock
        self.sink = sink
    }

    public func log(_ level: LogLevel, _ event: String, _ extra: [String: JSON] = [:]) {
        guard level >= self.level else { return }
        var line = fields.merging(extra) { _, new in new }
        line["ts_ms"] = .int(clock())
        line["level"] = .string(level.rawValue)
        line["event"] = .string(event)
        sink(JSON.object(line).serialized())
    }

    /// A copy that also appends `record`ed events to a ground-truth log.
    public func recording(into recorder: @escaping @Sendable (String, [String: JSON], Int64) -> Void) -> Logger {
        var copy = self
        copy.recorder = recorder
        return copy
    }

    /// Logs the event and appends it to the ground-truth log: what the
    /// daemon observed and did, kept apart from what agents claim.
    public func record(_ level: LogLevel, _ event: String, _ extra: [String: JSON] = [:]) {
        log(level, event, extra)
        recorder?(event, extra, clock())
    }

    public func debug(_ event: String, _ extra: [String: JSON] = [:]) { log(.debug, event, extra) }
    public func info(_ event: String, _ extra: [String: JSON] = [:]) { log(.info, event, extra) }
    public func warn(_ event: String, _ extra: [String: JSON] = [:]) { log(.warn, event, extra) }
    public func error(_ event: String, _ extra: [String: JSON] = [:]) { log(.error, event, extra) }
}
