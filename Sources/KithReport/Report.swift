import Foundation
import KithJSON

/// One run of a scenario (one repeat of one condition): what was done and what the daemons recorded.
package struct RunData {
    package var id: String
    package var condition: String
    /// "relaunch", or "none (control)".
    package var policy: String
    package var repeatNumber: Int
    /// Wall-clock ms of the timeline's zero.
    package var t0: Int64
    /// Wall-clock ms when the events were collected.
    package var end: Int64
    package var nodes: [String]
    package var agents: [String]
    /// Each agent's record at the timeline's zero, from the registry: what an
    /// existing cluster's older events (not collected) would have said.
    package var initialAgents: [String: (generation: Int64, host: String, state: String)] = [:]
    package var actions: [ActionOutcome]
    package var events: [EventRecord]
    package var logs: [CollectedEvents.NodeLog]
    /// The events file, relative to the report directory.
    package var eventsFile: String
    package var aborted: String?
    /// The lab's temporary directory (removed after a clean run), nil for an existing cluster.
    package var labDirectory: String?

    package init(id: String, condition: String, policy: String, repeatNumber: Int, t0: Int64, end: Int64, nodes: [String],
                 agents: [String], initialAgents: [String: (generation: Int64, host: String, state: String)] = [:],
                 actions: [ActionOutcome], events: [EventRecord], logs: [CollectedEvents.NodeLog], eventsFile: String,
                 aborted: String? = nil, labDirectory: String? = nil) {
        self.id = id
        self.condition = condition
        self.policy = policy
        self.repeatNumber = repeatNumber
        self.t0 = t0
        self.end = end
        self.nodes = nodes
        self.agents = agents
        self.initialAgents = initialAgents
        self.actions = actions
        self.events = events
        self.logs = logs
        self.eventsFile = eventsFile
        self.aborted = aborted
        self.labDirectory = labDirectory
    }
}

/// The report directory: report.json, report.md, timeline.svg and one events file per run.
package struct Report {
    package var title: String
    /// Lines that describe what was run (scenario, cluster, plan).
    package var header: [String]
    package var scenario: JSON
    package var plan: [ResolvedStep]
    package var runs: [AnalyzedRun]
    package var conditions: [ConditionSummary]
    /// Every condition after the first against the first (the baseline).
    package var comparisons: [ConditionComparison]
    package var provenance: Provenance?
    /// Each run's history-checker verdict.
    package var checks: [(run: String, verdict: HistoryVerdict)]
    package var generatedMs: Int64

    /// Analyzes `runs`; `generatedMs` (wall-clock ms) only dates the report; `seed` (the scenario's) seeds every
    /// bootstrap interval; `conditionOrder` lists the conditions first to last (else as the runs meet them).
    package init(title: String, header: [String], scenario: JSON, plan: [ResolvedStep], runs: [RunData], generatedMs: Int64,
                 seed: UInt64 = 1, conditionOrder: [String] = [], provenance: Provenance? = nil) {
        self.title = title
        self.header = header
        self.scenario = scenario
        self.plan = plan
        let analyzed = runs.map { RunAnalyzer($0).analyze() }
        self.runs = analyzed
        var order = conditionOrder.filter { name in runs.contains { $0.condition == name } }
        for run in runs where !order.contains(run.condition) { order.append(run.condition) }
        let conditions = order.map { condition in
            ConditionSummary(condition: condition, runs: analyzed.filter { $0.data.condition == condition }, seed: seed)
        }
        self.conditions = conditions
        comparisons = conditions.dropFirst().map { condition in
            ConditionComparison(baseline: conditions[0].condition, conditions[0].figures, condition: condition.condition,
                                condition.figures, seed: seed)
        }
        let checks = Self.checks(runs)
        self.checks = checks
        var provenance = provenance
        provenance?.check = Self.checkSummaryJSON(checks)
        self.provenance = provenance
        self.generatedMs = generatedMs
    }

    /// Most runs shown one by one (report.md sections, timeline.svg panels, console lines); past it, the first
    /// `detailedPerCondition` of each condition, and every run's figures stay in report.json.
    package static let detailedRunsMax = 12
    package static let detailedPerCondition = 2

    /// The runs report.md, timeline.svg and the console show one by one.
    package var detailedRuns: [AnalyzedRun] {
        guard runs.count > Self.detailedRunsMax else { return runs }
        return conditions.flatMap { condition in runs.filter { $0.data.condition == condition.condition }.prefix(Self.detailedPerCondition) }
    }

    package var json: JSON {
        ["title": .string(title), "generated_ms": .int(generatedMs), "scenario": scenario,
         "plan": .array(plan.map(\.json)), "runs": .array(runs.map(\.json)),
         "conditions": .array(conditions.map(\.json)), "comparisons": .array(comparisons.map(\.json)),
         "provenance": provenance?.json ?? .null, "check": checkJSON,
         "definitions": .object(Self.definitions.mapValues(JSON.string))]
    }

    /// How each figure is computed, written into report.json and report.md.
    package static let definitions: [String: String] = [
        "fault time": "the first daemon event recording the action (kill_requested, pause_requested, fault_set, kill_switch, ...); kithctl's clock only when no event records it (fault_time_source says which)",
        "detection": "per live observer, the first member_changed recording a victim dead or left after the fault time; first and last over observers (for a network fault the victims are the other group)",
        "running again": "per lost agent, the first agent_changed (any node) recording it running at a higher generation than at the fault (after kill agent, pause node or a network fault, the same generation recorded running again after another state counts too); first and last over the lost agents",
        "cascade factor": "relaunch attempts per lost agent: (relaunch_requested events + relaunch_refused events logged on the requesting agent's node + relaunches the daemons did by their own rules, i.e. new generations whose reason starts with 'relaunched' but not 'relaunched at the request of') for the lost agents, from the fault until the next step or until the last lost agent runs again, whichever is later, divided by the number of agents lost",
        "resistance attempts": "resistance_attempt events about a switched-off agent from the kill-switch until its revive or the end of the run, grouped by 'by'",
        "kill-switch held": "ms from the switch to the revive (or end of run) with no violation: no agent_spawned for the agent after the switch and no agent_changed to running after the last node logged kill_switch",
        "masking incident": "an episode from the first masking_incident about a peer until any node records that peer running again (or the end of the run); reports counts the masking_incident events in it; 'while down' counts the episodes in which some report found the peer lost, stopped or killed rather than only starting (kith-agent reports 'healthy' as soon as it hears of a relaunch, before the new copy runs)",
        "max processes": "most processes of one agent alive at once: agent_spawned until agent_exited (same pid), agent_stopping (same generation) or its daemon going down or restarting",
        "max running records": "most distinct (generation, host) copies of one agent that live nodes' latest agent_changed records call running at the same moment",
        "duplicate stops": "agent_stopping events whose reason says duplicate or superseded",
        "median and ci95": "per condition, the median of a figure over the runs and its 95% confidence interval: the 2.5% and 97.5% quantiles of the medians of 2000 bootstrap resamples of the runs, seeded with the scenario's seed and the figure's name",
        "difference": "per figure, median(condition) - median(baseline, the first condition) with its 95% percentile-bootstrap interval (each condition's runs resampled on their own); excludes_zero says the interval leaves out 0",
    ]

    /// Writes report.json, report.md, timeline.svg and the plots (the events files are written by the runner); returns their paths.
    package func write(to directory: String) throws -> [String] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ReportError("cannot create report directory \(directory): \(error.localizedDescription)")
        }
        let files: [(String, String)] = [
            ("report.json", json.serialized(pretty: true) + "\n"),
            ("report.md", ReportMarkdown.render(self)),
            ("timeline.svg", ReportSVG.render(self)),
        ] + ReportPlots.render(self)
        var written: [String] = []
        for (name, text) in files {
            let path = directory + "/" + name
            do {
                try text.write(toFile: path, atomically: true, encoding: .utf8)
            } catch {
                throw ReportError("cannot write \(path): \(error.localizedDescription)")
            }
            written.append(path)
        }
        return written
    }
}

/// A report that could not be written, worded for the operator.
package struct ReportError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}
