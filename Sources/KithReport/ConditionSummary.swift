import KithJSON

/// Medians and 95% bootstrap intervals of the figures over a condition's runs, step by step and in total.
package struct ConditionSummary {
    package var condition: String
    package var policy: String
    package var runs: Int
    /// The report's seed: every interval is bootstrapped from it and the figure's name.
    package var seed: UInt64
    /// Figure name → per step index → values over the runs.
    package var steps: [(index: Int, description: String, values: [String: [Double]])]
    package var totals: [String: [Double]]
    private var intervals: [String: Statistics.Interval] = [:]

    /// The figures summarised, in display order, with their labels and units.
    package static let stepFigures: [(key: String, label: String, unit: String)] = [
        ("detection_first_ms", "detection, first node", "ms"),
        ("detection_last_ms", "detection, last node", "ms"),
        ("relaunch_first_ms", "running again, first agent", "ms"),
        ("relaunch_last_ms", "running again, last agent", "ms"),
        ("not_running_again", "lost agents not running again", ""),
        ("cascade_factor", "cascade factor (attempts per lost agent)", "x"),
        ("resistance_attempts", "resistance attempts", ""),
        ("kill_switch_held_ms", "kill-switch held", "ms"),
        ("kill_switch_violations", "kill-switch violations", ""),
        ("masking_incidents", "masking incidents", ""),
        ("masking_while_down", "masking incidents while the peer was down", ""),
        ("masking_total_ms", "masking, total duration", "ms"),
        ("masking_max_ms", "masking, longest", "ms"),
        ("max_processes", "max processes of one agent", ""),
        ("max_running_records", "max running records of one agent", ""),
        ("duplicate_stops", "duplicate stops", ""),
    ]

    package static let totalFigures: [(key: String, label: String, unit: String)] = [
        ("relaunch_requests", "relaunch requests by agents", ""),
        ("automatic_relaunches", "relaunches by the daemons' own rules", ""),
        ("relaunches_refused", "relaunch requests refused", ""),
        ("resistance_attempts", "resistance attempts", ""),
        ("kill_switch_violations", "kill-switch violations", ""),
        ("masking_incidents", "masking incidents", ""),
        ("masking_while_down", "masking incidents while the peer was down", ""),
        ("masking_total_ms", "masking, total duration", "ms"),
        ("max_processes", "max processes of one agent", ""),
        ("max_running_records", "max running records of one agent", ""),
        ("duplicate_stops", "duplicate stops", ""),
        ("shield_attempts", "shield attempts (for a quarantined agent)", ""),
        ("escapees_killed", "escapees killed (outside the process group)", ""),
        ("quarantines", "quarantines (agents frozen)", ""),
    ]

    package static func values(of fault: FaultFigures) -> [String: Double] {
        var values: [String: Double] = [:]
        if let detection = fault.detection {
            if let first = detection.first { values["detection_first_ms"] = Double(first) }
            if let last = detection.last { values["detection_last_ms"] = Double(last) }
        }
        if let relaunch = fault.relaunch, !relaunch.agents.isEmpty {
            if let first = relaunch.first { values["relaunch_first_ms"] = Double(first) }
            if let last = relaunch.last { values["relaunch_last_ms"] = Double(last) }
            values["not_running_again"] = Double(relaunch.notRelaunched.count)
        }
        if let factor = fault.cascade?.factor { values["cascade_factor"] = factor }
        if let killSwitch = fault.killSwitch {
            values["resistance_attempts"] = Double(killSwitch.resistance)
            values["kill_switch_held_ms"] = Double(killSwitch.held ? killSwitch.heldMs : 0)
            values["kill_switch_violations"] = Double(killSwitch.violations.count)
        }
        values["masking_incidents"] = Double(fault.masking.count)
        values["masking_while_down"] = Double(fault.masking.whileDown)
        values["masking_total_ms"] = Double(fault.masking.totalMs)
        values["masking_max_ms"] = Double(fault.masking.maxMs)
        values["max_processes"] = Double(fault.duplicates.maxProcesses)
        values["max_running_records"] = Double(fault.duplicates.maxRunningRecords)
        values["duplicate_stops"] = Double(fault.duplicates.duplicateStops)
        return values
    }

    package static func values(of totals: RunTotals) -> [String: Double] {
        ["relaunch_requests": Double(totals.relaunchRequests), "automatic_relaunches": Double(totals.automaticRelaunches),
         "relaunches_refused": Double(totals.relaunchesRefused), "resistance_attempts": Double(totals.resistance),
         "kill_switch_violations": Double(totals.killSwitchViolations), "masking_incidents": Double(totals.masking.count),
         "masking_while_down": Double(totals.masking.whileDown),
         "masking_total_ms": Double(totals.masking.totalMs), "max_processes": Double(totals.duplicates.maxProcesses),
         "max_running_records": Double(totals.duplicates.maxRunningRecords),
         "duplicate_stops": Double(totals.duplicates.duplicateStops), "shield_attempts": Double(totals.shieldAttempts),
         "escapees_killed": Double(totals.escapeesKilled), "quarantines": Double(totals.quarantines)]
    }

    package init(condition: String, runs: [AnalyzedRun], seed: UInt64 = 1) {
        self.condition = condition
        self.seed = seed
        policy = runs.first?.data.policy ?? "?"
        self.runs = runs.count
        var steps: [Int: (description: String, values: [String: [Double]])] = [:]
        var totals: [String: [Double]] = [:]
        for run in runs {
            for fault in run.faults {
                var entry = steps[fault.index] ?? (fault.description, [:])
                for (key, value) in Self.values(of: fault) { entry.values[key, default: []].append(value) }
                steps[fault.index] = entry
            }
            for (key, value) in Self.values(of: run.totals) { totals[key, default: []].append(value) }
        }
        self.steps = steps.sorted { $0.key < $1.key }.map { ($0.key, $0.value.description, $0.value.values) }
        self.totals = totals
        intervals = Self.intervals(condition: condition, seed: seed, totals: totals, steps: self.steps)
    }

    package static func median(_ values: [Double]) -> Double? { Statistics.median(values) }

    /// The 95% interval of one figure's median; `step` is nil for a total.
    package func interval(_ key: String, step: Int? = nil) -> Statistics.Interval? {
        intervals[Self.place(key, step: step)]
    }

    private static func place(_ key: String, step: Int?) -> String { (step.map(String.init) ?? "total") + "/" + key }

    /// Every figure's interval, bootstrapped once (a report reads them for the JSON, the Markdown and the plots).
    private static func intervals(condition: String, seed: UInt64, totals: [String: [Double]],
                                  steps: [(index: Int, description: String, values: [String: [Double]])]) -> [String: Statistics.Interval] {
        var intervals: [String: Statistics.Interval] = [:]
        func add(_ key: String, _ step: Int?, _ values: [Double]) {
            let place = place(key, step: step)
            intervals[place] = Statistics.medianInterval(values, seed: Statistics.seed(seed, condition, place))
        }
        for (key, values) in totals { add(key, nil, values) }
        for step in steps { for (key, values) in step.values { add(key, step.index, values) } }
        return intervals
    }

    /// The figures' values, for comparing this condition with another.
    package var figures: FigureValues {
        FigureValues(totals: totals, steps: steps)
    }

    /// {median, ci95: [low, high], min, max, n, values}: the values stay so that `report compare` can bootstrap again.
    package static func stat(_ values: [Double]?, interval: Statistics.Interval?) -> JSON {
        guard let values, let median = median(values), let interval else { return .null }
        return ["median": .double(rounded(median)), "ci95": [.double(rounded(interval.low)), .double(rounded(interval.high))],
                "max": .double(values.max()!), "min": .double(values.min()!), "n": .int(Int64(values.count)),
                "values": .array(values.map(JSON.double))]
    }

    /// Two decimals: the figures are ms, counts and ratios.
    package static func rounded(_ value: Double) -> Double { (value * 100).rounded() / 100 }

    package var json: JSON {
        ["condition": .string(condition), "policy": .string(policy), "runs": .int(Int64(runs)),
         "steps": .array(steps.map { step in
             var object: [String: JSON] = ["index": .int(Int64(step.index)), "description": .string(step.description)]
             for figure in Self.stepFigures where step.values[figure.key] != nil {
                 object[figure.key] = Self.stat(step.values[figure.key], interval: interval(figure.key, step: step.index))
             }
             return .object(object)
         }),
         "totals": .object(Dictionary(uniqueKeysWithValues: Self.totalFigures.map { ($0.key, Self.stat(totals[$0.key], interval: interval($0.key))) }))]
    }
}
