import KithJSON

/// Each run's history-checker verdict in a scenario report: `check` in report.json, a "Check" section in report.md.
extension Report {
    /// Per run, the checker over the run's verified events.
    static func checks(_ runs: [RunData]) -> [(run: String, verdict: HistoryVerdict)] {
        runs.map { run in (run.id, HistoryChecker(.init(events: run.events, nodes: run.nodes)).check()) }
    }

    var checkJSON: JSON {
        ["ok": .bool(checks.allSatisfy(\.verdict.ok)),
         "runs": .array(checks.map { check in
             var entry = check.verdict.json.objectValue ?? [:]
             entry["run"] = .string(check.run)
             return .object(entry)
         })]
    }

    /// The verdict in short, for the report's provenance: ok, and how many runs were checked and violated.
    static func checkSummaryJSON(_ checks: [(run: String, verdict: HistoryVerdict)]) -> JSON {
        ["ok": .bool(checks.allSatisfy(\.verdict.ok)), "runs": .int(Int64(checks.count)),
         "violations": .int(Int64(checks.reduce(0) { $0 + $1.verdict.violations.count }))]
    }

    /// The Markdown section: one line per run, and each violation (the records are in report.json).
    var checkMarkdown: [String] {
        var out = ["## Check", "", "`kithctl check` over each run's events (rules and bounds: README, History checker).", ""]
        for (run, verdict) in checks {
            out.append("- **\(run)**: \(verdict.summary)")
            for rule in verdict.rules where rule.notChecked == nil || !rule.violations.isEmpty {
                out.append("  - \(rule.line)")
            }
            for violation in verdict.violations { out.append("  - VIOLATION [\(violation.rule)] \(violation.text)") }
        }
        out.append("")
        return out
    }
}
