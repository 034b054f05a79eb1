import KithJSON

/// The line a daemon appends to an agent's log (`DATA/agents/NAME.log`) before each process it starts,
/// and how `kithctl logs` splits a log at those lines into generations: the agent's own output carries
/// no node, generation or start time, the marker gives all three. One definition for writer and reader.
public enum AgentLogMarker {
    static let prefix = "--- kith started "
    static let suffix = " ---"

    /// The marker line (with its newline) for a process of `agent`'s `generation` started on `node`.
    public static func line(agent: String, generation: UInt64, node: String, tsMs: Int64) -> String {
        "\(prefix)ts_ms=\(tsMs) node=\(node) agent=\(agent) generation=\(generation)\(suffix)\n"
    }

    /// The marker's fields, nil for any other line (an agent printing something like it without the
    /// numbers is not mistaken for one).
    public static func parse(_ line: String) -> (tsMs: Int64, node: String, generation: UInt64)? {
        guard line.hasPrefix(prefix), line.hasSuffix(suffix) else { return nil }
        var fields: [Substring: Substring] = [:]
        for word in line.dropFirst(prefix.count).dropLast(suffix.count).split(separator: " ") {
            guard let equals = word.firstIndex(of: "=") else { continue }
            fields[word[..<equals]] = word[word.index(after: equals)...]
        }
        guard let ts = fields["ts_ms"].flatMap({ Int64($0) }), let node = fields["node"], !node.isEmpty,
              let generation = fields["generation"].flatMap({ UInt64($0) }) else { return nil }
        return (ts, String(node), generation)
    }
}

/// One generation's run of lines on one node, or the lines before any marker (`generation` nil).
public struct AgentLogSegment: Equatable, Sendable {
    public var node: String
    public var generation: UInt64?
    public var startedMs: Int64?
    public var lines: [String] = []

    public init(node: String, generation: UInt64? = nil, startedMs: Int64? = nil, lines: [String] = []) {
        self.node = node
        self.generation = generation
        self.startedMs = startedMs
        self.lines = lines
    }

    /// One node's lines split at its markers. `continuing` is the segment the previous lines ended in:
    /// lines before the first marker extend it (it comes first, with only the new lines).
    public static func split(_ lines: [String], node: String, continuing: AgentLogSegment? = nil) -> [AgentLogSegment] {
        var result: [AgentLogSegment] = []
        var segment = continuing.map { AgentLogSegment(node: node, generation: $0.generation, startedMs: $0.startedMs) }
            ?? AgentLogSegment(node: node)
        for line in lines {
            if let marker = AgentLogMarker.parse(line) {
                result.append(segment)
                segment = AgentLogSegment(node: node, generation: marker.generation, startedMs: marker.tsMs)
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
}
