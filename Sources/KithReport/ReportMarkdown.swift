import Foundation
import KithJSON

/// report.md: the run for people, figures per fault and the conditions side by side.
package enum ReportMarkdown {
    package static func render(_ report: Report) -> String {
        var out: [String] = []
        out.append("# \(report.title)")
        out.append("")
        out.append(contentsOf: report.header.map { "- " + $0 })
        out.append("- Generated \(timestamp(report.generatedMs)); the timeline is `timeline.svg`, every figure is in `report.json`.")
        if let provenance = report.provenance { out.append(contentsOf: provenance.lines.map { "- " + $0 }) }
        out.append("")

        if !report.plan.isEmpty {
            out.append("## Plan")
            out.append("")
            out.append("| step | at | action |")
            out.append("|---|---|---|")
            for step in report.plan {
                out.append("| \(step.index) | +\(Table.duration(Double(step.step.atMs))) | \(escape(step.description))\(step.step.note.map { " — " + escape($0) } ?? "") |")
            }
            out.append("")
        }

        if report.conditions.count > 1 || (report.conditions.first?.runs ?? 0) > 1 {
            out.append(contentsOf: summary(report))
        }

        if report.runs.count > report.detailedRuns.count {
            out.append(contentsOf: runList(report))
        }
        for run in report.detailedRuns {
            out.append(contentsOf: section(run))
        }
        out.append(contentsOf: report.checkMarkdown)

        out.append("## How the figures are computed")
        out.append("")
        out.append("All times come from the daemons' signed event logs (wall-clock `ts_ms`), relative to the fault time.")
        out.append("")
        for (name, text) in report.definitions.sorted(by: { $0.key < $1.key }) {
            out.append("- **\(name)**: \(escape(text))")
        }
        out.append("")
        return out.joined(separator: "\n")
    }

    private static func summary(_ report: Report) -> [String] {
        var out: [String] = []
        out.append("## Conditions side by side")
        out.append("")
        out.append("Median over the runs, with its 95% bootstrap confidence interval in brackets when the runs differ.")
        if report.conditions.contains(where: { $0.runs < 10 }) {
            out.append("With fewer than 10 runs in a condition a bootstrap interval is too narrow (one run gives a point): read it as a range seen, not a 95% interval.")
        }
        out.append("")
        let conditions = report.conditions
        out.append("| figure | " + conditions.map { "\($0.condition): \(escape($0.policy)) (\($0.runs) run\($0.runs == 1 ? "" : "s"))" }.joined(separator: " | ") + " |")
        out.append("|---|" + conditions.map { _ in "---|" }.joined())
        for figure in ConditionSummary.totalFigures {
            let cells = conditions.map { cell($0.totals[figure.key], $0.interval(figure.key), unit: figure.unit) }
            out.append("| total: \(figure.label) | " + cells.joined(separator: " | ") + " |")
        }
        for (index, description) in stepIndices(conditions) {
            for figure in ConditionSummary.stepFigures {
                let values = conditions.map { condition in condition.steps.first { $0.index == index }?.values[figure.key] }
                guard shows(figure.key, values) else { continue }
                let cells = zip(conditions, values).map { condition, values in
                    cell(values, condition.interval(figure.key, step: index), unit: figure.unit)
                }
                out.append("| step \(index) \(escape(description)): \(figure.label) | " + cells.joined(separator: " | ") + " |")
            }
        }
        out.append("")
        out.append("![Availability of each agent over time, per condition](availability.svg)")
        out.append("")
        out.append("![Relaunch latency per condition](relaunch-latency.svg)")
        out.append("")
        out.append("![Masking, resistance and shield attempts per condition](attempts.svg)")
        out.append("")
        for comparison in report.comparisons {
            out.append(contentsOf: self.comparison(comparison))
        }
        return out
    }

    /// Every step index any condition has, with its description.
    private static func stepIndices(_ conditions: [ConditionSummary]) -> [(Int, String)] {
        Set(conditions.flatMap { $0.steps.map(\.index) }).sorted().map { index in
            (index, conditions.lazy.compactMap { $0.steps.first { $0.index == index }?.description }.first ?? "")
        }
    }

    /// Per-step duplicates and masking are noise when nothing happened in any condition.
    private static func shows(_ key: String, _ values: [[Double]?]) -> Bool {
        guard values.contains(where: { $0 != nil }) else { return false }
        if ["masking_incidents", "masking_while_down", "masking_total_ms", "masking_max_ms", "duplicate_stops"].contains(key),
           values.allSatisfy({ ($0 ?? []).allSatisfy { $0 == 0 } }) { return false }
        if ["max_processes", "max_running_records"].contains(key), values.allSatisfy({ ($0 ?? []).allSatisfy { $0 <= 1 } }) { return false }
        return true
    }

    /// "Condition X against baseline Y": each figure's difference of medians with its interval; **bold** where it excludes 0.
    package static func comparison(_ comparison: ConditionComparison) -> [String] {
        var out: [String] = []
        out.append("### \(escape(comparison.condition)) against \(escape(comparison.baseline))")
        out.append("")
        out.append("Median of \(escape(comparison.condition)) minus median of \(escape(comparison.baseline)), with its 95% bootstrap interval;"
                   + " **bold** where the interval leaves out 0.")
        out.append("")
        out.append("| figure | difference | 95% CI |")
        out.append("|---|---|---|")
        let units = Dictionary((ConditionSummary.totalFigures + ConditionSummary.stepFigures).map { ($0.key, $0.unit) }, uniquingKeysWith: { a, _ in a })
        let labels = Dictionary(ConditionSummary.stepFigures.map { ($0.key, $0.label) }, uniquingKeysWith: { a, _ in a })
        func row(_ label: String, _ key: String, _ difference: Statistics.Difference) -> String {
            let unit = units[key] ?? ""
            let text = signed(difference.difference, unit: unit)
            return "| \(label) | \(difference.excludesZero ? "**\(text)**" : text) | "
                + "\(signed(difference.ci95.low, unit: unit)) to \(signed(difference.ci95.high, unit: unit)) |"
        }
        for figure in ConditionSummary.totalFigures {
            guard let difference = comparison.totals.first(where: { $0.key == figure.key })?.difference else { continue }
            out.append(row("total: \(figure.label)", figure.key, difference))
        }
        for step in comparison.steps {
            for figure in step.figures where !(figure.difference.difference == 0 && figure.difference.ci95 == .init(low: 0, high: 0)) {
                out.append(row("step \(step.index) \(escape(step.description)): \(labels[figure.key] ?? figure.key)", figure.key, figure.difference))
            }
        }
        out.append("")
        return out
    }

    private static func signed(_ value: Double, unit: String) -> String {
        value < 0 ? "-" + format(-value, unit: unit) : (value > 0 ? "+" : "") + format(value, unit: unit)
    }

    private static func cell(_ values: [Double]?, _ interval: Statistics.Interval?, unit: String) -> String {
        guard let values, let median = ConditionSummary.median(values) else { return "–" }
        let text = format(median, unit: unit)
        guard let interval, interval.low != interval.high || values.contains(where: { $0 != median }) else { return text }
        return "\(text) [\(format(interval.low, unit: unit))–\(format(interval.high, unit: unit))]"
    }

    package static func format(_ value: Double, unit: String) -> String {
        switch unit {
        case "ms": return Table.duration(value)
        case "x": return String(format: "%.2f", value)
        default: return value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
        }
    }

    private static func ms(_ value: Int64?) -> String { value.map { Table.duration(Double($0)) } ?? "–" }

    private static func section(_ run: AnalyzedRun) -> [String] {
        let data = run.data
        var out: [String] = []
        out.append("## Run \(data.id): \(data.condition), policy \(data.policy), repeat \(data.repeatNumber)")
        out.append("")
        if let aborted = data.aborted { out.append("**Aborted:** \(escape(aborted))"); out.append("") }
        out.append("Timeline zero \(timestamp(data.t0)); events collected at +\(Table.duration(Double(data.end - data.t0))); "
                   + "\(data.events.count) events in `\(data.eventsFile)`.")
        out.append("")
        let broken = data.logs.filter { !$0.ok }
        if broken.isEmpty {
            out.append("Event logs: every node's log verified (" + data.logs.map { "\($0.node) \($0.records)\($0.source == "file" ? " from its data directory" : "")" }.joined(separator: ", ") + ").")
        } else {
            out.append("Event logs: **not all verified**: " + broken.map { "\($0.node): \(escape($0.detail))" }.joined(separator: "; "))
        }
        out.append("")

        out.append("| step | planned | fault at | action | figures |")
        out.append("|---|---|---|---|---|")
        for fault in run.faults {
            var figures: [String] = []
            if !fault.ok { figures.append("**failed**: \(escape(fault.error ?? "?"))") }
            if let detection = fault.detection {
                var text = "detected by first \(ms(detection.first)), last \(ms(detection.last))"
                if !detection.undetected.isEmpty { text += "; not by \(detection.undetected.joined(separator: ", "))" }
                figures.append(text)
            }
            if let relaunch = fault.relaunch, !relaunch.agents.isEmpty {
                let each = relaunch.agents.map { agent in
                    agent.ms.map { "\(agent.name) \(Table.duration(Double($0))) on \(agent.node ?? "?") g\(agent.generation ?? 0)" } ?? "\(agent.name) not running again"
                }
                figures.append("running again: " + each.joined(separator: ", "))
            } else if fault.relaunch != nil {
                figures.append("no agent lost")
            }
            if let cascade = fault.cascade, let factor = cascade.factor {
                figures.append("cascade \(String(format: "%.2f", factor)) (\(cascade.requests) requested + \(cascade.refused) refused requests"
                               + " + \(cascade.automatic) automatic, for \(cascade.lost) lost)")
            }
            if let killSwitch = fault.killSwitch {
                let by = killSwitch.resistanceBy.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
                figures.append((killSwitch.held ? "held \(Table.duration(Double(killSwitch.heldMs)))" : "**broken**: " + killSwitch.violations.joined(separator: "; "))
                               + " until \(killSwitch.revived ? "revive" : "the end")"
                               + "; \(killSwitch.resistance) resistance attempt\(killSwitch.resistance == 1 ? "" : "s")" + (by.isEmpty ? "" : " (\(by))"))
            }
            if fault.masking.count > 0 {
                figures.append("masking: \(fault.masking.count) incident\(fault.masking.count == 1 ? "" : "s") (\(fault.masking.whileDown) while the peer was down), \(fault.masking.reports) reports, "
                               + "total \(ms(fault.masking.totalMs)), longest \(ms(fault.masking.maxMs))"
                               + " by " + fault.masking.byReporter.keys.sorted().joined(separator: ", "))
            }
            if fault.duplicates.maxProcesses > 1 || fault.duplicates.maxRunningRecords > 1 || fault.duplicates.duplicateStops > 0 {
                figures.append("duplicates: \(fault.duplicates.maxProcesses) processes of \(fault.duplicates.processAgent ?? "-") at once, "
                               + "\(fault.duplicates.maxRunningRecords) running records, \(fault.duplicates.duplicateStops) duplicate stops")
            }
            let source = fault.faultSource == "kithctl clock" ? " (kithctl clock)" : ""
            out.append("| \(fault.index) | +\(Table.duration(Double(fault.plannedMs))) | +\(Table.duration(Double(fault.faultTs - data.t0)))\(source) "
                       + "| \(escape(fault.description)) | \(figures.isEmpty ? "–" : figures.map(escape).joined(separator: "<br>")) |")
        }
        out.append("")

        let totals = run.totals
        out.append("Totals: \(totals.relaunchRequests) relaunch requests by agents, \(totals.automaticRelaunches) relaunches by the daemons' rules, "
                   + "\(totals.relaunchesRefused) requests refused; \(totals.resistance) resistance attempts"
                   + (totals.resistanceBy.isEmpty ? "" : " (" + totals.resistanceBy.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ") + ")")
                   + "; \(totals.masking.count) masking incidents (\(totals.masking.whileDown) while the peer was down; \(totals.masking.reports) reports, total \(ms(totals.masking.totalMs)))"
                   + "; at most \(totals.duplicates.maxProcesses) process(es) and \(totals.duplicates.maxRunningRecords) running record(s) of one agent at once, "
                   + "\(totals.duplicates.duplicateStops) duplicate stops.")
        out.append("")
        out.append("Containment: shield attempts \(totals.shieldAttempts)\(byAgent(totals.shieldAttemptsBy)), "
                   + "escapees killed \(totals.escapeesKilled)\(byAgent(totals.escapeesKilledBy)), "
                   + "quarantines \(totals.quarantines)\(byAgent(totals.quarantinesBy)).")
        out.append("")
        let failed = data.actions.filter { !$0.ok }
        if !failed.isEmpty {
            out.append("Actions that did not fully take: " + failed.map { "\(escape($0.label)): \(escape($0.error ?? "?"))" }.joined(separator: "; "))
            out.append("")
        }
        return out
    }

    /// Every run in one line each, when there are too many for a section apiece.
    private static func runList(_ report: Report) -> [String] {
        var out = ["## Runs", "",
                   "\(report.runs.count) runs; the first \(Report.detailedPerCondition) of each condition are shown in full below, every run's figures are in `report.json`.",
                   "", "| run | timeline zero | events | logs | aborted |", "|---|---|---|---|---|"]
        for run in report.runs {
            let data = run.data
            out.append("| \(data.id) | \(timestamp(data.t0)) | \(data.events.count) | \(data.logs.allSatisfy(\.ok) ? "verified" : "**not all verified**") "
                       + "| \(data.aborted.map(escape) ?? "") |")
        }
        out.append("")
        return out
    }

    /// " (n1-a1 ×2, n2-a1 ×1)", or nothing for none.
    private static func byAgent(_ counts: [String: Int]) -> String {
        counts.isEmpty ? "" : " (" + counts.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ") + ")"
    }

    package static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    package static func timestamp(_ milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d.%03d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, Int(milliseconds % 1000))
    }
}

extension Report {
    package var definitions: [String: String] { Self.definitions }
}
