import KithJSON

/// Checks what must hold over a whole cluster history, whatever the faults:
/// one copy of an agent at a time, the kill-switch obeyed, acknowledged
/// checkpoints and messages never silently lost, no *dead* verdict without a
/// fault, every guarded agent running again in time. Pure: the caller reads
/// and verifies the nodes' logs; every bound is a setting. A rule whose
/// records the history lacks says "not checked" rather than passing quietly.
package struct HistoryChecker {
    package struct Settings {
        /// A copy must be gone this long after its host recorded the kill-switch (stopping takes a moment).
        package var killSwitchGraceMs: Int64 = 2000
        /// A paused host's copies count as frozen until this long after it wakes (it fences them first thing).
        package var resumeGraceMs: Int64 = 1000
        /// Copies either side of a partition may both run until this long after it ends (the views merge, one stops).
        package var splitGraceMs: Int64 = 5000
        /// A *dead* verdict may come this long after the fault that explains it ended (suspicion and dissemination).
        package var verdictLagMs: Int64 = 15_000
        /// A lost agent with a live relaunching guardian runs again within this.
        package var relaunchBoundMs: Int64 = 15_000
        /// An acknowledged message is delivered or failed within this; younger ones at the end of the history are pending.
        package var settleBoundMs: Int64 = 30_000
        /// A sending daemon ends every message it acknowledged within this of its record (a 10 s give-up, the
        /// `send_failed` record written a second later); one whose daemon went down sooner is lost with it.
        package var outboxBoundMs: Int64 = 12_000

        package init() {}
    }

    /// Every node's records, merged, and what the events alone cannot say.
    package struct History {
        package var events: [EventRecord]
        package var nodes: [String]
        /// Agent → the agents that protect it with a relaunching policy; nil when unknown
        /// (then an agent counts as guarded if the history shows it relaunched for its guardians).
        package var guardians: [String: [String]]?

        package init(events: [EventRecord], nodes: [String]? = nil, guardians: [String: [String]]? = nil) {
            self.events = events.sorted(by: EventRecord.before)
            var names = nodes ?? []
            for event in self.events where !names.contains(event.node) { names.append(event.node) }
            self.nodes = names.sorted(by: NodeNames.order)
            self.guardians = guardians
        }
    }

    package let history: History
    package let settings: Settings
    /// The analyzer over the same records: down spans and agent states are read the way the report reads them.
    let analyzer: RunAnalyzer
    /// The first and last record's time: the history's extent.
    let start: Int64
    let end: Int64

    package init(_ history: History, settings: Settings = Settings()) {
        self.history = history
        self.settings = settings
        start = history.events.first?.ts ?? 0
        end = history.events.last?.ts ?? 0
        var agents: [String] = []
        for event in history.events {
            if let agent = event["agent"], event.event.hasPrefix("agent_"), !agents.contains(agent) { agents.append(agent) }
        }
        analyzer = RunAnalyzer(RunData(id: "check", condition: "", policy: "", repeatNumber: 1, t0: start, end: end,
                                       nodes: history.nodes, agents: agents.sorted(), actions: [], events: history.events,
                                       logs: [], eventsFile: ""))
    }

    package func check() -> HistoryVerdict {
        let outcomes = [oneCopy(), killSwitch(), checkpoints(), messages(), deadVerdicts(), relaunches()]
        return HistoryVerdict(records: history.events.count, nodes: history.nodes, start: start, rules: outcomes)
    }

    /// "+1234 ms" from the first record: how violations name a moment.
    func at(_ ts: Int64) -> String { "+\(ts - start) ms" }
}

/// The checker's answer: per rule what was checked, and every violation with the records that show it.
package struct HistoryVerdict {
    package struct Violation {
        package var rule: String
        package var text: String
        package var records: [EventRecord]

        package var json: JSON {
            ["rule": .string(rule), "text": .string(text), "records": .array(records.map { .string($0.line) })]
        }
    }

    package struct RuleOutcome {
        /// The key in the JSON verdict, e.g. "one_copy".
        package var rule: String
        package var title: String
        /// How many things the rule examined (processes, switches, verdicts, ...), and what they are.
        package var checked: Int
        package var unit: String
        /// Why the rule could not check anything (the history lacks its records), nil when it could.
        package var notChecked: String?
        /// Things not yet due at the end of the history (a loss younger than the bound): neither passed nor failed.
        package var pending = 0
        package var violations: [Violation] = []

        package var status: String { !violations.isEmpty ? "violated" : notChecked != nil ? "not checked" : "ok" }

        package var json: JSON {
            var entry: [String: JSON] = ["rule": .string(rule), "title": .string(title), "status": .string(status),
                                         "checked": .int(Int64(checked)), "unit": .string(unit), "pending": .int(Int64(pending)),
                                         "violations": .int(Int64(violations.count))]
            if let notChecked { entry["not_checked"] = .string(notChecked) }
            return .object(entry)
        }

        package var line: String {
            let what = notChecked.map { "not checked: \($0)" } ?? "\(checked) \(unit)" + (pending > 0 ? ", \(pending) pending" : "")
            return "\(title): \(violations.isEmpty ? (notChecked == nil ? "ok" : "-") : "\(violations.count) VIOLATED") (\(what))"
        }
    }

    package var records: Int
    package var nodes: [String]
    package var start: Int64
    package var rules: [RuleOutcome]

    package var violations: [Violation] { rules.flatMap(\.violations) }
    package var ok: Bool { violations.isEmpty }

    /// One line for a report: "check: ok (6 rules, 2 not checked; 1234 records from 5 nodes)".
    package var summary: String {
        let skipped = rules.filter { $0.notChecked != nil && $0.violations.isEmpty }.count
        let verdict = ok ? "ok" : "\(violations.count) violation\(violations.count == 1 ? "" : "s")"
        return "check: \(verdict) (\(rules.count) rules, \(skipped) not checked; \(records) records from \(nodes.count) nodes)"
    }

    package var json: JSON {
        ["ok": .bool(ok), "records": .int(Int64(records)), "nodes": .array(nodes.map(JSON.string)), "start_ms": .int(start),
         "rules": .array(rules.map(\.json)), "violations": .array(violations.map(\.json))]
    }

    /// The console form: the summary, a line per rule, then each violation with its records.
    package var text: String {
        var lines = [summary] + rules.map { "  " + $0.line }
        for violation in violations {
            lines.append("")
            lines.append("VIOLATION [\(violation.rule)] \(violation.text)")
            lines += violation.records.map { "    \($0.line)" }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
