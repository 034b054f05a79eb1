import Foundation
import KithControl
import KithCore
import KithReport

/// What `kithctl check` checks: a lab's logs (read from its daemons, or their data directories when they
/// are gone) or saved events files, each node's records verified before the checker sees them.
package enum HistoryCheck {
    /// The verified history and each log's verdict; a log that does not verify is not checked, and fails the check.
    package struct Loaded {
        package var history: HistoryChecker.History
        package var logs: [CollectedEvents.NodeLog]

        package var brokenLogs: [CollectedEvents.NodeLog] { logs.filter { !$0.ok } }
    }

    /// Every node of the lab in `directory`: each log checked against the key its node wrote into the log's
    /// first record (the lab's own data directory vouches for it), or the key pinned for it if one is.
    package static func lab(_ directory: String) throws -> Loaded {
        guard let record = try LabRecord.load(from: directory) else {
            throw Failure("no lab recorded in \(directory) (start one with 'kithctl lab up')")
        }
        let pins = (try? KnownNodes.load()) ?? [:]
        let sources = record.nodes.map { node in
            EventCollection.Source(name: node.name, control: node.control, dataDir: node.dataDir,
                                   publicKey: pins[node.name] ?? ownKey(dataDir: node.dataDir))
        }
        let collected = EventCollection.collect(sources, sinceMs: nil)
        return Loaded(history: .init(events: collected.events.filter { event in collected.logs.contains { $0.node == event.node && $0.ok } },
                                     nodes: record.nodes.map(\.name), guardians: guardians(record.nodes.map(\.control))),
                      logs: collected.logs)
    }

    /// Saved events files (a report's events-*.jsonl, or nodes' events.jsonl): the records of each node
    /// verified as one chain against its pinned key, else the key its `started` record states.
    package static func files(_ paths: [String]) throws -> Loaded {
        var byNode: [String: [(seq: Int64, line: String)]] = [:]
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else { throw Failure("cannot read \(path)") }
            let fallback = URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                guard let record = EventRecord(line: String(line), node: fallback) else {
                    throw Failure("\(path): a line that is not an event record: \(line.prefix(80))")
                }
                byNode[record.node, default: []].append((record.seq, record.line))
            }
        }
        let pins = (try? KnownNodes.load()) ?? [:]
        var events: [EventRecord] = []
        var logs: [CollectedEvents.NodeLog] = []
        for node in byNode.keys.sorted(by: NodeNames.order) {
            var seen: Set<Int64> = []
            let lines = byNode[node]!.sorted { $0.seq < $1.seq }.filter { seen.insert($0.seq).inserted }.map(\.line)
            let records = lines.compactMap { EventRecord(line: $0, node: node) }
            var log = CollectedEvents.NodeLog(node: node, source: "file", records: records.count, ok: false, detail: "")
            guard let key = pins[node] ?? records.lazy.compactMap({ $0["node_key"] }).first else {
                log.detail = "not verified: no public key pinned for \(node) and no started record states one"
                logs.append(log)
                continue
            }
            let verification = EventLogVerifier.verify(lines: lines, publicKeyHex: key, allowPartial: (records.first?.seq ?? 1) > 1)
            log.ok = verification.ok
            log.broken = !verification.ok
            log.detail = verification.description + (pins[node] == nil ? " (against the key its log states)" : "")
            if verification.ok { events += records }
            logs.append(log)
        }
        return Loaded(history: .init(events: events), logs: logs)
    }

    /// The event-log public key a node wrote into its log when it started.
    private static func ownKey(dataDir: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: dataDir + "/" + EventLogVerifier.fileName) else { return nil }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 64 * 1024)) ?? Data()
        // The first boot's `started` record states it; a record or two may come before it (containment).
        return String(decoding: head, as: UTF8.self).split(separator: "\n").dropLast().lazy
            .compactMap { EventRecord(line: String($0), node: "")?["node_key"] }.first
    }

    /// Agent → its guardians whose policy relaunches, as the first node that answers holds the registry.
    private static func guardians(_ controls: [String]) -> [String: [String]]? {
        for control in controls {
            guard let records = AgentViews.byName(at: control) else { continue }
            let relaunching = Set(records.filter { ($0.value["policy"]?.stringValue ?? "none") != "none" }.keys)
            return records.mapValues { record in
                (record["guardians"]?.arrayValue ?? []).compactMap(\.stringValue).filter(relaunching.contains)
            }
        }
        return nil
    }
}
