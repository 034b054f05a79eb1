import Foundation
import KithJSON

/// A few lines per run for the terminal, after the report is written.
package enum ReportConsole {
    package static func summary(_ report: Report) -> [String] {
        var lines: [String] = []
        for run in report.detailedRuns {
            lines.append("Run \(run.data.id) (policy \(run.data.policy))\(run.data.aborted.map { ", aborted: \($0)" } ?? ""):")
            for fault in run.faults {
                var parts: [String] = []
                if let detection = fault.detection, let last = detection.last {
                    parts.append("detected \(Table.duration(Double(detection.first ?? last)))–\(Table.duration(Double(last)))")
                } else if let detection = fault.detection {
                    parts.append(detection.observers.isEmpty ? "no observer" : "nobody recorded \(fault.action.hasSuffix("node") ? "it" : "the other side") dead")
                }
                if let relaunch = fault.relaunch, !relaunch.agents.isEmpty {
                    parts.append(relaunch.last.map { "agents running again \(Table.duration(Double(relaunch.first ?? $0)))–\(Table.duration(Double($0)))" }
                                 ?? "agents not running again")
                    if !relaunch.notRelaunched.isEmpty, relaunch.last != nil { parts.append("not again: \(relaunch.notRelaunched.joined(separator: ","))") }
                }
                if let factor = fault.cascade?.factor { parts.append("cascade \(String(format: "%.2f", factor))") }
                if let killSwitch = fault.killSwitch {
                    parts.append((killSwitch.held ? "held \(Table.duration(Double(killSwitch.heldMs)))" : "NOT held")
                                 + ", \(killSwitch.resistance) resistance attempt\(killSwitch.resistance == 1 ? "" : "s")")
                }
                if fault.masking.count > 0 {
                    parts.append("\(fault.masking.count) masking incident\(fault.masking.count == 1 ? "" : "s") (\(fault.masking.whileDown) while down, "
                                 + "\(Table.duration(Double(fault.masking.totalMs))))")
                }
                if fault.duplicates.maxProcesses > 1 { parts.append("\(fault.duplicates.maxProcesses) copies of \(fault.duplicates.processAgent ?? "?")") }
                if !fault.ok { parts.append("failed: \(fault.error ?? "?")") }
                lines.append("  \(fault.index) +\(Table.duration(Double(fault.faultTs - run.data.t0)))  \(fault.description): "
                             + (parts.isEmpty ? "–" : parts.joined(separator: "; ")))
            }
            if let verdict = report.checks.first(where: { $0.run == run.data.id })?.verdict { lines.append("  " + verdict.summary) }
        }
        let hidden = report.runs.count - report.detailedRuns.count
        if hidden > 0 {
            lines.append("(\(hidden) more run\(hidden == 1 ? "" : "s"): one line each in report.md, every figure in report.json)")
        }
        if report.conditions.count > 1 {
            lines.append("Conditions (median over runs [95% CI]):")
            for figure in ConditionSummary.totalFigures {
                let cells = report.conditions.map { condition in
                    let interval = condition.interval(figure.key).map { interval in
                        interval.low == interval.high ? "" : " [\(ReportMarkdown.format(interval.low, unit: figure.unit))–\(ReportMarkdown.format(interval.high, unit: figure.unit))]"
                    } ?? ""
                    return "\(condition.condition) " + (ConditionSummary.median(condition.totals[figure.key] ?? []).map { ReportMarkdown.format($0, unit: figure.unit) } ?? "–")
                        + interval
                }
                lines.append("  \(figure.label): " + cells.joined(separator: ", "))
            }
        }
        return lines
    }
}
