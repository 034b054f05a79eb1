import Glibc

/// One line of an agent log (`DATA/agents/NAME.log`) as the daemon writes it:
/// `2026-12-06T07:10:11.123Z out text`, the UTC time the daemon read it (milliseconds), its stream
/// (`out`, `err`, or `kithd` for the daemon's own lines) and the text. The daemon is the only writer, so
/// an agent cannot forge a `kithd` line. A line in any other shape (a log from before timestamps) is
/// kept whole as `text`, with no time or stream. One definition for writer and reader.
public struct AgentLogLine: Equatable, Sendable {
    public var tsMs: Int64?
    public var stream: String?
    public var text: String

    public static let out = "out"
    public static let err = "err"
    public static let kithd = "kithd"
    /// `2026-12-06T07:10:11.123Z`
    static let timestampBytes = 24

    public init(tsMs: Int64?, stream: String?, text: String) {
        self.tsMs = tsMs
        self.stream = stream
        self.text = text
    }

    /// The line without its newline.
    public var formatted: String {
        guard let tsMs, let stream else { return text }
        return "\(AgentLogLine.timestamp(milliseconds: tsMs)) \(stream) \(text)"
    }

    public static func parse(_ line: String) -> AgentLogLine {
        let raw = AgentLogLine(tsMs: nil, stream: nil, text: line)
        let bytes = Array(line.utf8.prefix(timestampBytes + 8))
        guard bytes.count > timestampBytes, bytes[timestampBytes] == 0x20,
              let ms = milliseconds(timestamp: bytes[..<timestampBytes]) else { return raw }
        let rest = line.utf8.dropFirst(timestampBytes + 1)
        guard let space = rest.firstIndex(of: 0x20) else { return raw }
        let stream = String(decoding: rest[..<space], as: UTF8.self)
        guard [out, err, kithd].contains(stream) else { return raw }
        return AgentLogLine(tsMs: ms, stream: stream, text: String(decoding: rest[rest.index(after: space)...], as: UTF8.self))
    }

    /// `milliseconds` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
    public static func timestamp(milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds % 1000), 3))Z"
    }

    /// The inverse of `timestamp(milliseconds:)`; nil for anything not in exactly that shape.
    static func milliseconds(timestamp bytes: ArraySlice<UInt8>) -> Int64? {
        let text = Array(bytes)
        guard text.count == timestampBytes else { return nil }
        let separators: [Int: UInt8] = [4: 0x2D, 7: 0x2D, 10: 0x54, 13: 0x3A, 16: 0x3A, 19: 0x2E, 23: 0x5A]
        var digits: [Int64] = []
        for (index, byte) in text.enumerated() {
            if let separator = separators[index] {
                guard byte == separator else { return nil }
            } else {
                guard (0x30...0x39).contains(byte) else { return nil }
                digits.append(Int64(byte - 0x30))
            }
        }
        func number(_ from: Int, _ count: Int) -> Int64 { digits[from..<(from + count)].reduce(0) { $0 * 10 + $1 } }
        let (year, month, day) = (number(0, 4), number(4, 2), number(6, 2))
        let (hour, minute, second, milli) = (number(8, 2), number(10, 2), number(12, 2), number(14, 3))
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        // Days from the civil date (Howard Hinnant's algorithm), proleptic Gregorian.
        let shifted = month <= 2 ? year - 1 : year
        let era = shifted / 400
        let yearOfEra = shifted - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + milli
    }
}

/// The `kithd` line a daemon writes into an agent's log as each process it starts (its timestamp is the
/// start), and how `kithctl logs` splits a log at those lines into generations: the agent's own lines
/// carry no node or generation, the start line gives both, and the pid.
public enum AgentLogMarker {
    static let prefix = "started "

    /// The start line's text (after its timestamp and `kithd`).
    public static func text(agent: String, generation: UInt64, node: String, pid: Int32) -> String {
        "\(prefix)generation=\(generation) node=\(node) pid=\(pid) agent=\(agent)"
    }

    /// The start line's fields, nil for any other line.
    public static func parse(_ line: AgentLogLine) -> (tsMs: Int64, node: String, generation: UInt64, pid: Int32)? {
        guard line.stream == AgentLogLine.kithd, let tsMs = line.tsMs, line.text.hasPrefix(prefix) else { return nil }
        var fields: [Substring: Substring] = [:]
        for word in line.text.dropFirst(prefix.count).split(separator: " ") {
            guard let equals = word.firstIndex(of: "=") else { continue }
            fields[word[..<equals]] = word[word.index(after: equals)...]
        }
        guard let node = fields["node"], !node.isEmpty, let generation = fields["generation"].flatMap({ UInt64($0) }),
              let pid = fields["pid"].flatMap({ Int32($0) }) else { return nil }
        return (tsMs, String(node), generation, pid)
    }
}

/// One generation's run of lines on one node, or the lines before any start line (`generation` nil).
public struct AgentLogSegment: Equatable, Sendable {
    public var node: String
    public var generation: UInt64?
    public var startedMs: Int64?
    public var pid: Int32?
    public var lines: [AgentLogLine] = []

    public init(node: String, generation: UInt64? = nil, startedMs: Int64? = nil, pid: Int32? = nil,
                lines: [AgentLogLine] = []) {
        self.node = node
        self.generation = generation
        self.startedMs = startedMs
        self.pid = pid
        self.lines = lines
    }

    /// One node's lines split at its start lines (which are not kept as lines). `continuing` is the
    /// segment the previous lines ended in: lines before the first start line extend it (it comes first,
    /// with only the new lines).
    public static func split(_ lines: [String], node: String, continuing: AgentLogSegment? = nil) -> [AgentLogSegment] {
        var result: [AgentLogSegment] = []
        var segment = continuing.map { AgentLogSegment(node: node, generation: $0.generation, startedMs: $0.startedMs, pid: $0.pid) }
            ?? AgentLogSegment(node: node)
        for text in lines {
            let line = AgentLogLine.parse(text)
            if let marker = AgentLogMarker.parse(line) {
                result.append(segment)
                segment = AgentLogSegment(node: node, generation: marker.generation, startedMs: marker.tsMs, pid: marker.pid)
            } else {
                segment.lines.append(line)
            }
        }
        result.append(segment)
        // An empty piece says nothing, except a generation that has started and printed nothing yet.
        return result.enumerated().filter { index, piece in
            !piece.lines.isEmpty || (piece.generation != nil && (index > 0 || continuing == nil))
        }.map(\.element)
    }

    /// When the segment at `index` of `all` (sorted by start) ended: where the next one on its node, or
    /// the next of a higher generation anywhere, started; nil while it may still be running.
    public static func ended(_ index: Int, in all: [AgentLogSegment]) -> Int64? {
        let segment = all[index]
        return all[(index + 1)...].first { next in
            next.node == segment.node || (next.generation ?? 0) > (segment.generation ?? .max)
        }?.startedMs
    }

    /// The lines a reader asking `--since` wants: each timestamped line from `since` on; a line without a
    /// time (an old log) when its segment had not ended by then (`endedMs`).
    public func lines(since: Int64?, endedMs: Int64?) -> [AgentLogLine] {
        guard let since else { return lines }
        return lines.filter { ($0.tsMs ?? endedMs ?? .max) >= since }
    }
}
