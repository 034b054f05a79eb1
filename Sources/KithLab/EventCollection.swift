import Dispatch
import Foundation
import KithControl
import KithCore
import KithReport
import Synchronization

/// Reads every node's event log (the `events` control command with the
/// daemon's largest limit, or a lab daemon's file when it is gone) and checks
/// each against the node's public key, as `events verify` does.
package enum EventCollection {
    /// The daemon's bound on records per `events` request.
    package static let limit = 100_000

    package struct Source {
        package var name: String
        package var control: String?
        /// A lab node's data directory, read when the daemon does not answer.
        package var dataDir: String?
        /// The public key read from the node at the start of the run, to check the log against.
        package var publicKey: String?
    }

    /// `sinceMs`: only records from then on (an existing cluster's long history); the window is then verified as a partial chain.
    package static func collect(_ sources: [Source], sinceMs: Int64?) -> CollectedEvents {
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
           let data = FileManager.default.contents(atPath: dataDir + "/" + EventLogVerifier.fileName) {
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
    package static func write(_ events: [EventRecord], to path: String) throws {
        let text = events.map(\.line).joined(separator: "\n") + (events.isEmpty ? "" : "\n")
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw Failure("cannot write \(path): \(error.localizedDescription)")
        }
    }
}
