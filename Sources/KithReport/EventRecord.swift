import KithJSON

/// One record of a node's signed event log, parsed once.
package struct EventRecord {
    /// The node whose log holds it.
    package var node: String
    package var seq: Int64
    package var ts: Int64
    package var event: String
    package var record: JSON
    /// The line exactly as stored (signed), for the saved events file.
    package var line: String

    package subscript(key: String) -> String? { record[key]?.stringValue }
    package func int(_ key: String) -> Int64? { record[key]?.intValue }

    package init?(line: String, node fallback: String) {
        guard let record = try? JSON.parse(line), let seq = record["seq"]?.intValue,
              let ts = record["ts_ms"]?.intValue, let event = record["event"]?.stringValue else { return nil }
        self.node = record["node"]?.stringValue ?? fallback
        self.seq = seq
        self.ts = ts
        self.event = event
        self.record = record
        self.line = line
    }

    /// By time, then node, then seq: one merged timeline.
    package static func before(_ a: EventRecord, _ b: EventRecord) -> Bool {
        if a.ts != b.ts { return a.ts < b.ts }
        if a.node != b.node { return NodeNames.order(a.node, b.node) }
        return a.seq < b.seq
    }
}

/// Every node's event log at the end of a run, with each log's verdict.
package struct CollectedEvents {
    package struct NodeLog {
        package var node: String
        /// "control" (asked the daemon), "file" (a lab daemon that no longer answers: read from its data directory) or "missing".
        package var source: String
        package var records: Int
        package var ok: Bool
        package var detail: String
        /// The log was read but does not verify (as opposed to a node that could not be read at all).
        package var broken = false

        package var json: JSON {
            ["node": .string(node), "source": .string(source), "records": .int(Int64(records)), "ok": .bool(ok),
             "broken": .bool(broken), "detail": .string(detail)]
        }

        package init(node: String, source: String, records: Int, ok: Bool, detail: String, broken: Bool = false) {
            self.node = node
            self.source = source
            self.records = records
            self.ok = ok
            self.detail = detail
            self.broken = broken
        }
    }

    package var events: [EventRecord]
    package var logs: [NodeLog]

    package var allVerified: Bool { logs.allSatisfy(\.ok) }
    package var broken: [NodeLog] { logs.filter(\.broken) }

    package init(events: [EventRecord], logs: [NodeLog]) {
        self.events = events
        self.logs = logs
    }
}
