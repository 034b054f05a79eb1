import KithJSON

/// A condition's figures over its runs: per total figure and per step, the values of each run.
package struct FigureValues {
    package var totals: [String: [Double]]
    package var steps: [(index: Int, description: String, values: [String: [Double]])]

    package init(totals: [String: [Double]], steps: [(index: Int, description: String, values: [String: [Double]])]) {
        self.totals = totals
        self.steps = steps
    }

    /// The figures of one condition as report.json holds them (`conditions[i]`), from each figure's `values`.
    package init(json: JSON) {
        func values(_ object: [String: JSON]) -> [String: [Double]] {
            var out: [String: [Double]] = [:]
            for (key, stat) in object {
                guard let list = stat["values"]?.arrayValue else { continue }
                out[key] = list.compactMap(\.doubleValue)  // finite: the parser refuses numbers out of range
            }
            return out
        }
        totals = values(json["totals"]?.objectValue ?? [:])
        steps = (json["steps"]?.arrayValue ?? []).compactMap { step in
            guard let index = step["index"]?.intValue, let object = step.objectValue else { return nil }
            return (Int(index), step["description"]?.stringValue ?? "", values(object))
        }
    }
}

/// How a condition differs from a baseline, figure by figure: the difference
/// of the medians (condition − baseline) with its 95% bootstrap interval. A
/// study reads off which figures a condition moved, and by how much at least.
package struct ConditionComparison {
    package var baseline: String
    package var condition: String
    package var totals: [(key: String, difference: Statistics.Difference)]
    /// Steps by index; a step is compared where both conditions ran it.
    package var steps: [(index: Int, description: String, figures: [(key: String, difference: Statistics.Difference)])]

    /// `seed` is the report's; each figure's interval has a seed of its own drawn from it and the names.
    package init(baseline: String, _ base: FigureValues, condition: String, _ other: FigureValues, seed: UInt64) {
        self.baseline = baseline
        self.condition = condition
        func compare(_ figures: [(key: String, label: String, unit: String)], _ a: [String: [Double]], _ b: [String: [Double]],
                     place: String) -> [(key: String, difference: Statistics.Difference)] {
            figures.compactMap { figure in
                guard let left = a[figure.key], let right = b[figure.key],
                      let difference = Statistics.difference(baseline: left, condition: right,
                                                             seed: Statistics.seed(seed, baseline, condition, place, figure.key)) else { return nil }
                return (figure.key, difference)
            }
        }
        totals = compare(ConditionSummary.totalFigures, base.totals, other.totals, place: "total")
        steps = base.steps.compactMap { step in
            guard let theirs = other.steps.first(where: { $0.index == step.index }) else { return nil }
            let figures = compare(ConditionSummary.stepFigures, step.values, theirs.values, place: String(step.index))
            return figures.isEmpty ? nil : (step.index, step.description, figures)
        }
    }

    package static func json(_ difference: Statistics.Difference) -> JSON {
        ["difference": .double(ConditionSummary.rounded(difference.difference)),
         "ci95": [.double(ConditionSummary.rounded(difference.ci95.low)), .double(ConditionSummary.rounded(difference.ci95.high))],
         "excludes_zero": .bool(difference.excludesZero)]
    }

    package var json: JSON {
        ["baseline": .string(baseline), "condition": .string(condition),
         "totals": .object(Dictionary(uniqueKeysWithValues: totals.map { ($0.key, Self.json($0.difference)) })),
         "steps": .array(steps.map { step in
             var object: [String: JSON] = ["index": .int(Int64(step.index)), "description": .string(step.description)]
             for figure in step.figures { object[figure.key] = Self.json(figure.difference) }
             return .object(object)
         })]
    }
}
