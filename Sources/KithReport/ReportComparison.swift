import KithJSON

/// Two reports side by side (`kithctl report compare A B`): for each
/// condition they share (by name; else the first of each), every figure's
/// median and interval in A and in B and the difference B − A with its
/// bootstrap interval, recomputed from the per-run values report.json keeps;
/// and where their provenance differs (build, scenario, host).
package struct ReportComparison {
    package struct Pair {
        package var left: ConditionSide
        package var right: ConditionSide
        package var comparison: ConditionComparison
    }

    /// One condition of one report: its figures and the intervals that report gave them.
    package struct ConditionSide {
        package var name: String
        package var runs: Int
        package var figures: FigureValues
        package var json: JSON
    }

    package var leftName: String
    package var rightName: String
    package var pairs: [Pair]
    /// Provenance keys whose values differ: (key, A's, B's).
    package var provenanceDifferences: [(key: String, left: String, right: String)]

    /// `left` and `right` are the two report.json documents; fails when either has no conditions.
    package init(left: JSON, leftName: String, right: JSON, rightName: String) throws(ReportError) {
        self.leftName = leftName
        self.rightName = rightName
        func sides(_ report: JSON, _ name: String) throws(ReportError) -> [ConditionSide] {
            let conditions = (report["conditions"]?.arrayValue ?? []).compactMap { condition -> ConditionSide? in
                guard let label = condition["condition"]?.stringValue else { return nil }
                return ConditionSide(name: label, runs: Int(condition["runs"]?.intValue ?? 0), figures: FigureValues(json: condition),
                                     json: condition)
            }
            guard !conditions.isEmpty else { throw ReportError("\(name): report.json has no conditions (is it a scenario report?)") }
            return conditions
        }
        let a = try sides(left, leftName)
        let b = try sides(right, rightName)
        var matched = a.compactMap { side in b.first { $0.name == side.name }.map { (side, $0) } }
        if matched.isEmpty { matched = [(a[0], b[0])] }
        let seed = UInt64(bitPattern: left["provenance"]?["seed"]?.intValue ?? 1)
        pairs = matched.map { pair in
            Pair(left: pair.0, right: pair.1,
                 comparison: ConditionComparison(baseline: "\(leftName):\(pair.0.name)", pair.0.figures,
                                                 condition: "\(rightName):\(pair.1.name)", pair.1.figures, seed: seed))
        }
        var differences: [(key: String, left: String, right: String)] = []
        let leftProvenance = left["provenance"]?.objectValue ?? [:]
        let rightProvenance = right["provenance"]?.objectValue ?? [:]
        for key in ["version", "commit", "scenario_hash", "seed", "host", "kernel"] {
            let l = leftProvenance[key].map(Self.text) ?? "–"
            let r = rightProvenance[key].map(Self.text) ?? "–"
            if l != r { differences.append((key, l, r)) }
        }
        provenanceDifferences = differences
    }

    private static func text(_ json: JSON) -> String { json.stringValue ?? json.serialized() }

    package var json: JSON {
        ["a": .string(leftName), "b": .string(rightName),
         "pairs": .array(pairs.map { pair in
             ["a": .string(pair.left.name), "b": .string(pair.right.name), "a_runs": .int(Int64(pair.left.runs)),
              "b_runs": .int(Int64(pair.right.runs)), "difference": pair.comparison.json]
         }),
         "provenance_differences": .object(Dictionary(uniqueKeysWithValues: provenanceDifferences.map {
             ($0.key, JSON.array([.string($0.left), .string($0.right)]))
         }))]
    }

    /// A table per pair for the terminal: figure, A, B, and B − A with its interval (`*` where it leaves out 0).
    package var lines: [String] {
        var out: [String] = []
        if provenanceDifferences.isEmpty {
            out.append("Same build, scenario, seed and machine.")
        } else {
            for difference in provenanceDifferences {
                out.append("\(difference.key) differs: A \(difference.left), B \(difference.right)")
            }
        }
        for pair in pairs {
            out.append("")
            func runs(_ count: Int) -> String { "\(count) run\(count == 1 ? "" : "s")" }
            out.append("A \(leftName): \(pair.left.name) (\(runs(pair.left.runs)))  vs  B \(rightName): \(pair.right.name) (\(runs(pair.right.runs)))")
            var rows: [[String]] = [["figure", "A median [95% CI]", "B median [95% CI]", "B - A [95% CI]"]]
            for figure in ConditionSummary.totalFigures {
                guard let difference = pair.comparison.totals.first(where: { $0.key == figure.key })?.difference else { continue }
                let a = pair.left.json["totals"]?[figure.key]
                let b = pair.right.json["totals"]?[figure.key]
                if difference.difference == 0, a?["max"]?.doubleValue == 0, b?["max"]?.doubleValue == 0 { continue }
                rows.append([figure.label, Self.cell(a, unit: figure.unit), Self.cell(b, unit: figure.unit),
                             Self.signed(difference.difference, figure.unit) + " [" + Self.signed(difference.ci95.low, figure.unit) + ", "
                                + Self.signed(difference.ci95.high, figure.unit) + "]" + (difference.excludesZero ? " *" : "")])
            }
            if rows.count == 1 { rows.append(["(nothing to compare: every figure 0 in both, or a report without per-run values)", "", "", ""]) }
            let widths = (0..<4).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                let line = "  " + row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                out.append(String(line.reversed().drop { $0 == " " }.reversed()))
            }
        }
        out.append("")
        out.append("* the 95% interval of the difference leaves out 0. Steps are compared in --json.")
        return out
    }

    private static func cell(_ stat: JSON?, unit: String) -> String {
        guard let median = stat?["median"]?.doubleValue else { return "–" }
        let interval = stat?["ci95"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        return ReportMarkdown.format(median, unit: unit)
            + (interval.count == 2 ? " [\(ReportMarkdown.format(interval[0], unit: unit)), \(ReportMarkdown.format(interval[1], unit: unit))]" : "")
    }

    private static func signed(_ value: Double, _ unit: String) -> String {
        value < 0 ? "-" + ReportMarkdown.format(-value, unit: unit) : "+" + ReportMarkdown.format(value, unit: unit)
    }
}
