import Foundation
import Glibc
import KithControl
import KithCore
import KithLab
import KithReport

/// `events`: every node's signed event log, merged into one timeline, and
/// `events verify`: each node's whole log checked against its public key.
enum EventCommands {
    /// The follow poll interval.
    static let pollMilliseconds = 500
    /// At most this many records per node per request (the daemon's own bound).
    static let maxPerRequest = 10_000
    /// What `events verify` asks for: the whole log, as far as the node sends it.
    static let verifyLimit = 100_000

    static func run(_ arguments: [String], node: String?) throws {
        if arguments.first == "verify" {
            try verify(Array(arguments.dropFirst()), node: node)
            return
        }
        let options = try Arguments(arguments, options: ["--since", "--limit", "--node", "--agent", "--type", "--timeout"],
                                    switches: ["--follow", "--json"])
        try options.expectPositionals([], command: "events")
        let since = try options.value("--since").map { text throws(UsageError) in try sinceMilliseconds(text) }
        let limit = try options.integer("--limit", default: 1000, in: 1...maxPerRequest)
        let timeout = try options.timeoutMilliseconds()
        let json = options.has("--json")
        let filter = Filter(nodes: Set(OperatorCommands.names(options.all("--node"))),
                            agents: Set(OperatorCommands.names(options.all("--agent"))),
                            types: Set(OperatorCommands.names(options.all("--type"))))
        var members = try filter.members(ReadTarget.discover(node))
        var timeline = Timeline()
        var silent: [String: String] = [:]

        func round(first: Bool) -> [FleetOutcome] {
            let requests = members.map { member in
                var request: [String: JSON] = ["cmd": "events", "limit": .int(Int64(limit))]
                if let from = timeline.lastTs[member.name] ?? since { request["since_ms"] = .int(from) }
                return (member, JSON.object(request))
            }
            let outcomes = Fleet.send(requests, signer: nil, timeoutMilliseconds: timeout)
            var fresh: [Timeline.Entry] = []
            for outcome in outcomes {
                let name = outcome.member.name
                guard let reply = outcome.reply else {
                    let reason = outcome.line()
                    if silent[name] != reason { printError(reason) }
                    silent[name] = reason
                    continue
                }
                if silent.removeValue(forKey: name) != nil && !first { printError("\(name): answering again") }
                fresh += timeline.take(reply, node: name)
            }
            for entry in fresh.sorted(by: Timeline.Entry.before) where filter.admits(entry.record) {
                print(json ? entry.line : format(entry.record))
            }
            fflush(nil)
            return outcomes
        }

        let outcomes = round(first: true)
        guard options.has("--follow") else {
            let failed = outcomes.filter { $0.reply == nil && $0.member.isLive }.map(\.member.name)
            if !failed.isEmpty { throw Failure("no events from \(failed.joined(separator: ", ")), which the cluster counts alive") }
            return
        }
        Interrupt.install()
        do {
            while true {
                try Waiting.sleep(milliseconds: pollMilliseconds)
                if let found = try? filter.members(Fleet.discover(node)) { members = found }
                _ = round(first: false)
            }
        } catch {
            return  // only Ctrl-C (Interrupted) ends following
        }
    }

    /// `--node`, `--agent` and `--type` (each repeatable or comma-separated): which records to show.
    struct Filter {
        var nodes: Set<String>
        var agents: Set<String>
        var types: Set<String>

        /// The members whose logs to read: those named by `--node`, all without it; a name that is no member fails.
        func members(_ all: [FleetMember]) throws -> [FleetMember] {
            guard !nodes.isEmpty else { return all }
            if let unknown = nodes.sorted().first(where: { name in !all.contains { $0.name == name } }) {
                throw Failure("the cluster has no node '\(unknown)' (it has \(all.map(\.name).joined(separator: ", ")))")
            }
            return all.filter { nodes.contains($0.name) }
        }

        /// An agent matches a record that names it in any agent field (`agent`, `peer`, `reporter`, `by`, `agents`).
        func admits(_ record: JSON) -> Bool {
            if !types.isEmpty && !types.contains(record["event"]?.stringValue ?? "") { return false }
            guard !agents.isEmpty else { return true }
            let named = ["agent", "peer", "reporter", "by"].compactMap { record[$0]?.stringValue }
                + (record["agents"]?.arrayValue ?? []).compactMap(\.stringValue)
            return named.contains(where: agents.contains)
        }
    }

    /// `--since T`: milliseconds since the epoch, or a duration meaning that long ago.
    static func sinceMilliseconds(_ text: String) throws(UsageError) -> Int64 {
        if let absolute = Int64(text), absolute >= 0 { return absolute }
        guard let ago = Durations.parse(text) else {
            throw UsageError("--since takes milliseconds since the epoch or a duration such as 5m, not '\(text)'")
        }
        return Durations.nowMilliseconds - Int64(ago)
    }

    /// What has been printed per node, so polls print only newer records.
    struct Timeline {
        struct Entry {
            var node: String
            var seq: Int64
            var ts: Int64
            var line: String
            var record: JSON

            /// By time, then node, then seq.
            static func before(_ a: Entry, _ b: Entry) -> Bool {
                if a.ts != b.ts { return a.ts < b.ts }
                if a.node != b.node { return NodeNames.order(a.node, b.node) }
                return a.seq < b.seq
            }
        }

        var lastSeq: [String: Int64] = [:]
        var lastTs: [String: Int64] = [:]

        /// The records of one `events` reply not seen before.
        mutating func take(_ reply: JSON, node: String) -> [Entry] {
            // A log that starts over (a new data directory) numbers from 1 again.
            if let head = reply["last_seq"]?.intValue, let seen = lastSeq[node], head < seen {
                lastSeq[node] = nil
                lastTs[node] = nil
            }
            var entries: [Entry] = []
            for case .string(let line) in reply["lines"]?.arrayValue ?? [] {
                guard let record = try? JSON.parse(line), let seq = record["seq"]?.intValue else { continue }
                guard seq > (lastSeq[node] ?? 0) else { continue }
                let ts = record["ts_ms"]?.intValue ?? 0
                entries.append(Entry(node: record["node"]?.stringValue ?? node, seq: seq, ts: ts, line: line, record: record))
                lastSeq[node] = seq
                lastTs[node] = max(lastTs[node] ?? ts, ts)
            }
            return entries
        }
    }

    /// "12:00:01.234  n1  #17  kill_switch  agent=a1 epoch=5": the chain fields left out.
    static func format(_ record: JSON) -> String {
        let hidden: Set<String> = ["seq", "ts_ms", "node", "event", "prev", "hash", "sig"]
        let fields = (record.objectValue ?? [:]).filter { !hidden.contains($0.key) }.sorted { $0.key < $1.key }.map { key, value in
            "\(key)=\(fieldText(value))"
        }
        return [clock(record["ts_ms"]?.intValue ?? 0), Table.cell(record["node"]), "#\(Table.cell(record["seq"]))",
                Table.cell(record["event"])].joined(separator: "  ")
            + (fields.isEmpty ? "" : "  " + fields.joined(separator: " "))
    }

    private static func fieldText(_ value: JSON) -> String {
        guard case .string(let text) = value else { return value.serialized() }
        return text.isEmpty || text.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) ? JSON.string(text).serialized() : text
    }

    /// Local wall-clock time of day with milliseconds.
    static func clock(_ milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        return String(format: "%02d:%02d:%02d.%03d", parts.tm_hour, parts.tm_min, parts.tm_sec, Int(milliseconds % 1000))
    }

    // MARK: - verify

    /// `events verify [--json] [--repin]`
    static func verify(_ arguments: [String], node: String?) throws {
        let options = try Arguments(arguments, switches: ["--json", "--repin"])
        try options.expectPositionals([], command: "events verify")
        let members = try Fleet.discover(node)
        let outcomes = Fleet.broadcast(["cmd": "events", "limit": .int(Int64(verifyLimit))], to: members, signer: nil,
                                       timeoutMilliseconds: 15_000)
        var pins = try KnownNodes.load()
        let heads = VerifiedHeadStore(directory: OperatorKey.configDirectory + "/verified")
        var pinsChanged = false
        var results: [NodeCheck] = []
        for outcome in outcomes {
            var check = NodeCheck(node: outcome.member.name)
            guard let reply = outcome.reply else {
                check.status = outcome.member.isLive ? .unreachable : .skipped
                check.detail = outcome.member.isLive ? (outcome.unreachable ?? outcome.refusal ?? "no answer")
                    : "\(outcome.member.state), did not answer"
                results.append(check)
                continue
            }
            let key = reply["public_key"]?.stringValue?.lowercased() ?? ""
            check.publicKey = key
            switch pins[check.node] {
            case nil:
                pins[check.node] = key
                pinsChanged = true
                check.pin = "new"
            case key?:
                check.pin = "known"
            case let pinned?:
                if options.has("--repin") {
                    pins[check.node] = key
                    pinsChanged = true
                    check.pin = "repinned"
                } else {
                    check.pin = "changed"
                    check.status = .keyChanged
                    check.detail = "its public key is \(key.prefix(16))…, but \(pinned.prefix(16))… was pinned in"
                        + " \(KnownNodes.path): another node under this name, or the same name with a new data directory."
                        + " If that is expected, run 'kithctl events verify --repin'"
                    results.append(check)
                    continue
                }
            }
            let lines = (reply["lines"]?.arrayValue ?? []).compactMap(\.stringValue)
            let head = reply["last_seq"]?.intValue ?? 0
            // The node sends at most its own bound of records: then only the newest window can be checked.
            check.partial = lines.count >= verifyLimit && Int64(lines.count) < head
            let verification = EventLogVerifier.verify(lines: lines, publicKeyHex: key, allowPartial: check.partial)
            check.verification = verification
            if !verification.ok {
                check.status = .broken
                check.detail = verification.description
                check.brokenSeq = verification.failure?.seq
            } else if (verification.lastSeq ?? 0) != head || (head > 0 && verification.lastHash != reply["last_hash"]?.stringValue) {
                check.status = .broken
                check.detail = "the verified records end at seq \(verification.lastSeq ?? 0), but the node's head is seq \(head)"
                    + " (hash \(Table.cell(reply["last_hash"]).prefix(16))…): records are missing or the head was rewritten"
            } else if !options.has("--repin"), let before = try heads.load(publicKeyHex: key),
                      let regression = before.regression(lines: lines, verification: verification) {
                // Kept as it was, so the loss keeps failing until the operator accepts it with --repin.
                check.status = .broken
                check.brokenSeq = regression.seq
                check.detail = regression.detail + "; if that is expected, run 'kithctl events verify --repin'"
            } else {
                check.status = .ok
                check.detail = verification.description + (check.partial ? "; only the newest \(lines.count) of \(head) records were sent" : "")
                if let seq = verification.lastSeq, let hash = verification.lastHash {
                    try heads.save(VerifiedHead(seq: seq, hash: hash), publicKeyHex: key, node: check.node)
                }
            }
            results.append(check)
        }
        if pinsChanged { try KnownNodes.save(pins) }

        if options.has("--json") {
            print(JSON.array(results.map(\.json)).serialized(pretty: true))
        } else {
            let rows = results.map { check in
                [check.node, check.status.rawValue, check.detail + (check.pin == "new" ? " (public key pinned)" : check.pin == "repinned" ? " (public key re-pinned)" : "")]
            }
            print(Table.render(header: ["NODE", "LOG", "DETAIL"], rows: rows), terminator: "")
        }
        let bad = results.filter { [.broken, .keyChanged, .unreachable].contains($0.status) }
        if !bad.isEmpty {
            throw Failure("event log verification failed for " + bad.map { check in
                check.node + (check.brokenSeq.map { " (broken at seq \($0))" } ?? " (\(check.status.rawValue))")
            }.joined(separator: ", "))
        }
    }

    /// One node's verdict.
    struct NodeCheck {
        enum Status: String {
            case ok, broken, keyChanged = "key-changed", unreachable, skipped
        }

        var node: String
        var status: Status = .skipped
        var detail = ""
        var publicKey: String?
        var pin: String?
        var partial = false
        var brokenSeq: Int64?
        var verification: Verification?

        var json: JSON {
            var entry: [String: JSON] = ["node": .string(node), "status": .string(status.rawValue), "detail": .string(detail),
                                         "ok": .bool(status == .ok || status == .skipped), "partial": .bool(partial)]
            if let publicKey { entry["public_key"] = .string(publicKey) }
            if let pin { entry["pin"] = .string(pin) }
            if let brokenSeq { entry["broken_seq"] = .int(brokenSeq) }
            if let verification { entry["verification"] = verification.json }
            return .object(entry)
        }
    }
}
