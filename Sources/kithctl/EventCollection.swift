import Dispatch
import Foundation
import KithCore
import KithNode
import Synchronization

/// One record of a node's signed event log, parsed once.
struct EventRecord {
    /// The node whose log holds it.
    var node: String
    var seq: Int64
    var ts: Int64
    var event: String
    var record: JSON
    /// The line exactly as stored (signed), for the saved events file.
    var line: String

    subscript(key: String) -> String? { record[key]?.stringValue }
    func int(_ key: String) -> Int64? { record[key]?.intValue }

    init?(line: String, node fallback: String) {
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
    static func before(_ a: EventRecord, _ b: EventRecord) -> Bool {
        if a.ts != b.ts { return a.ts < b.ts }
        if a.node != b.node { return Fleet.order(a.node, b.node) }
        return a.seq < b.seq
    }
}

/// Every node's event log at the end of a run, with each log's verdict.
struct CollectedEvents {
    struct NodeLog {
        var node: String
        /// "control" (asked the daemon), "file" (a lab daemon that no longer answers: read from its data directory) or "missing".
        var source: String
        var records: Int
        var ok: Bool
        var detail: String
        /// The log was read but does not verify (as opposed to a node that could not be read at all).
        var broken = false

        var json: JSON {
            ["node": .string(node), "source": .string(source), "records": .int(Int64(records)), "ok": .bool(ok),
             "broken": .bool(broken), "detail": .string(detail)]
        }
    }

    var events: [EventRecord]
    var logs: [NodeLog]

    var allVerified: Bool { logs.allSatisfy(\.ok) }
    var broken: [NodeLog] { logs.filter(\.broken) }
}

/// Reads every node's event log (the `events` control command with the
/// daemon's largest limit, or a lab daemon's file when it is gone) and checks
/// each against the node's public key, as `events verify` does.
enum EventCollection {
    /// The daemon's bound on records per `events` request.
    static let limit = 100_000

    struct Source {
        var name: String
        var control: String?
        /// A lab node's data directory, read when the daemon does not answer.
        var dataDir: String?
        /// The public key read from the node at the start of the run, to check the log against.
        var publicKey: String?
    }

    /// `sinceMs`: only records from then on (an existing cluster's long history); the window is then verified as a partial chain.
    static func collect(_ sources: [Source], sinceMs: Int64?) -> CollectedEvents {
        let results = Mutex<[Int: (CollectedEvents.NodeLog, [EventRecord])]>([:])
        DispatchQueue.concurrentPerform(iterations: sources.count) { index in
            let result = collect(sources[index], sinceMs: sinceMs)
            results.withLock { $0[index] = result }
        }
        let ordered = results.withLock { all in sources.indices.compactMap { all[$0] } }
        return CollectedEvents(events: ordered.flatMap(\.1).sorted(by: EventRecord.before), logs: ordered.map(\.0))
    }

    private static func collect(_ source: Source, sinceMs: Int64?) -> (CollectedEvents.NodeLog, [EventRecord]) {
        var log = CollectedEvents.NodeLog(node: source.name, source: "missing", records: 0, ok: false, detail: "")
        var lines: [String] = []
        var key = source.publicKey
        var head: (seq: Int64, hash: String)?
        var unreachable = ""
        if let control = source.control {
            var request: [String: JSON] = ["cmd": "events", "limit": .int(Int64(limit))]
            if let sinceMs { request["since_ms"] = .int(sinceMs) }
            do {
                let reply = try ControlClient(address: control, timeoutMilliseconds: 10_000).request(.object(request))
                lines = (reply["lines"]?.arrayValue ?? []).compactMap(\.stringValue)
                log.source = "control"
                let given = reply["public_key"]?.stringValue?.lowercased()
                if let pinned = key, let given, given != pinned.lowercased() {
                    log.detail = "its public key \(given.prefix(16))… is not the \(pinned.prefix(16))… it had at the start of the run"
                    log.broken = true
                    return (log, parse(lines, node: source.name))
                }
                key = key ?? given
                if let seq = reply["last_seq"]?.intValue, let hash = reply["last_hash"]?.stringValue { head = (seq, hash) }
            } catch {
                unreachable = "\(error)"
            }
        }
        if log.source == "missing", let dataDir = source.dataDir,
           let data = FileManager.default.contents(atPath: dataDir + "/" + EventLog.fileName) {
            lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            if let sinceMs {
                lines = lines.filter { line in ((try? JSON.parse(line))?["ts_ms"]?.intValue ?? 0) >= sinceMs }
            }
            log.source = "file"
        }
        guard log.source != "missing" else {
            log.detail = "no events: " + (unreachable.isEmpty ? "no control address" : unreachable)
            return (log, [])
        }
        let records = parse(lines, node: source.name)
        log.records = records.count
        guard let key else {
            log.detail = "\(records.count) records, not verified: no public key known for \(source.name)"
            return (log, records)
        }
        let partial = sinceMs != nil || (lines.count >= limit)
        let verification = EventLogVerifier.verify(lines: lines, publicKeyHex: key, allowPartial: partial)
        if !verification.ok {
            log.detail = verification.description
            log.broken = true
        } else if let head, head.seq > 0, verification.lastSeq != head.seq || verification.lastHash != head.hash {
            log.detail = "the verified records end at seq \(verification.lastSeq ?? 0), but the node's head is seq \(head.seq)"
            log.broken = true
        } else {
            log.ok = true
            log.detail = verification.description + (log.source == "file" ? " (read from the data directory: the daemon no longer answers)" : "")
        }
        return (log, records)
    }

    private static func parse(_ lines: [String], node: String) -> [EventRecord] {
        lines.compactMap { EventRecord(line: $0, node: node) }
    }

    /// The events file of a report: one signed record per line, merged by time.
    static func write(_ events: [EventRecord], to path: String) throws {
        let text = events.map(\.line).joined(separator: "\n") + (events.isEmpty ? "" : "\n")
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw Failure("cannot write \(path): \(error.localizedDescription)")
        }
    }
}
