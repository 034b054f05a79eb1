import KithCore

/// How loud the daemon is.
public enum LogLevel: String, Sendable, Comparable, CaseIterable {
    case debug, info, warn, error

    var rank: Int { LogLevel.allCases.firstIndex(of: self) ?? 0 }
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rank < b.rank }
}

/// Structured log lines (one JSON object each), so that labs and tests can
/// grep and parse what a daemon did. The sink is injected: the daemon writes
/// to stderr, tests capture lines in memory. Every string field is cut short
/// at `fieldBytesMax`, because fields often quote what a peer or client sent
/// (a refused command's name, a target): a 1 MiB request must not become a
/// 1 MiB log line and event record.
public struct Logger: Sendable {
    /// Names, addresses, keys and reasons fit many times over; a field longer than this came from
    /// someone else's bytes, and its first KiB says enough.
    public static let fieldBytesMax = 1024

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
        var line = fields.merging(Logger.cutShort(extra)) { _, new in new }
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
        recorder?(event, Logger.cutShort(extra), clock())
    }

    /// `fields` with every string (nested ones too) at most `fieldBytesMax` bytes.
    static func cutShort(_ fields: [String: JSON]) -> [String: JSON] {
        fields.mapValues(cutShort)
    }

    private static func cutShort(_ value: JSON) -> JSON {
        switch value {
        case .string(let text): .string(text.cutShort(toUTF8Bytes: fieldBytesMax))
        case .array(let items): .array(items.map(cutShort))
        case .object(let members): .object(members.mapValues(cutShort))
        default: value
        }
    }

    public func debug(_ event: String, _ extra: [String: JSON] = [:]) { log(.debug, event, extra) }
    public func info(_ event: String, _ extra: [String: JSON] = [:]) { log(.info, event, extra) }
    public func warn(_ event: String, _ extra: [String: JSON] = [:]) { log(.warn, event, extra) }
    public func error(_ event: String, _ extra: [String: JSON] = [:]) { log(.error, event, extra) }
}

extension String {
    /// At most `limit` bytes of UTF-8, cut at a character boundary and marked with how much was cut,
    /// so a reader never mistakes a clipped field for the whole.
    func cutShort(toUTF8Bytes limit: Int) -> String {
        let count = utf8.count
        guard count > limit else { return self }
        let marker = "…[\(count) bytes]"
        var end = utf8.index(utf8.startIndex, offsetBy: max(0, limit - marker.utf8.count))
        while end > startIndex, !isCharacterBoundary(end) { end = utf8.index(before: end) }
        return String(self[..<end]) + marker
    }

    private func isCharacterBoundary(_ index: Index) -> Bool {
        index == endIndex || index.samePosition(in: unicodeScalars) != nil
    }
}
