import Foundation
import Glibc
import KithControl
import KithCore
import KithReport

/// `kithctl run SCENARIO.json [--report DIR] [--dry-run] [--kithd PATH] [--kith-agent PATH]`:
/// for each condition and repeat, start a lab (or take the existing cluster),
/// wait until it has converged and every agent runs, execute the timeline at
/// its offsets, watch until `duration`, heal everything, collect and verify
/// every node's event log, tear the lab down; then write the report.
package enum ScenarioRunner {
    /// What `kithctl run` was asked beyond the scenario: `repeats` overrides the file's, `resume` keeps the
    /// finished runs a report directory already holds; `settings` (the command line) goes into the provenance.
    package struct Options {
        package var reportDirectory: String
        package var dryRun = false
        package var kithd: String?
        package var kithAgent: String?
        package var repeats: Int?
        package var resume = false
        package var settings: JSON = .null

        package init(reportDirectory: String, dryRun: Bool = false, kithd: String? = nil, kithAgent: String? = nil,
                     repeats: Int? = nil, resume: Bool = false, settings: JSON = .null) {
            self.reportDirectory = reportDirectory
            self.dryRun = dryRun
            self.kithd = kithd
            self.kithAgent = kithAgent
            self.repeats = repeats
            self.resume = resume
            self.settings = settings
        }
    }

    /// Runs `scenario` (or with `dryRun` only prints its plan). A lab scenario signs with a throwaway key of
    /// its own; one on an existing cluster with `operatorKey`. `kithd` and `kithAgent` are the `--kithd` and
    /// `--kith-agent` options, for lab scenarios only; `commands` carries out the steps.
    package static func run(_ scenario: Scenario, options: Options, operatorKey: OperatorKey, commands: any ScenarioOperator) throws {
        var scenario = scenario
        if let repeats = options.repeats { scenario.repeats = repeats }
        let reportDirectory = options.reportDirectory
        // A lab's names are known now, so random targets are drawn before anything starts.
        var plan: [ResolvedStep]?
        if let lab = scenario.lab {
            plan = try resolvedOrUsage { try scenario.resolve(nodes: lab.nodeNames, agents: lab.agentNames) }
        }
        if options.dryRun {
            printPlan(scenario, plan: plan, reportDirectory: reportDirectory)
            return
        }

        var kithd = ""
        var kithAgent = ""
        var key = operatorKey
        var keyDirectory: String?
        if let lab = scenario.lab {
            kithd = try LabLayout.kithd(options.kithd)
            if lab.agentsPerNode > 0 { kithAgent = try Executables.kithAgent(options.kithAgent) }
            // A throwaway operator key for every lab of this run: the operator's own key and counter stay untouched.
            keyDirectory = try temporaryDirectory(prefix: "kith-run-key")
            key = try OperatorKey.generate(at: keyDirectory! + "/operator.key")
        } else if options.kithd != nil || options.kithAgent != nil {
            throw UsageError("--kithd and --kith-agent apply to lab scenarios; this one runs on an existing cluster")
        }
        defer { if let keyDirectory { try? FileManager.default.removeItem(atPath: keyDirectory) } }
        Interrupt.install()
        do {
            try FileManager.default.createDirectory(atPath: reportDirectory, withIntermediateDirectories: true)
        } catch {
            throw Failure("cannot create report directory \(reportDirectory): \(error.localizedDescription)")
        }
        let hash = ScenarioProvenance.hash(scenario)
        let finished = options.resume ? try ScenarioProvenance.finishedRuns(in: reportDirectory, hash: hash) : [:]

        printPlan(scenario, plan: plan, reportDirectory: reportDirectory)
        if !finished.isEmpty {
            print("Resuming: \(finished.count) finished run\(finished.count == 1 ? "" : "s") in \(reportDirectory) are kept, not run again.")
        }
        print("")
        var runs: [RunData] = []
        var stopped: Error?
        let conditions = scenario.conditions
        let startedMs = Durations.nowMilliseconds
        outer: for condition in conditions {
            for repeatNumber in 1...scenario.repeats {
                let id = "\(condition.name)-\(repeatNumber)"
                if let done = finished[id] {
                    runs.append(done)
                    continue
                }
                let context = RunContext(id: id, condition: condition, repeatNumber: repeatNumber,
                                         of: scenario.repeats, kithd: kithd, kithAgent: kithAgent, key: key,
                                         commands: commands, reportDirectory: reportDirectory)
                do {
                    try runOnce(scenario, context: context, plan: &plan, into: &runs)
                } catch {
                    stopped = error
                    break outer
                }
                if let last = runs.last, last.id == id { ScenarioProvenance.save(last, hash: hash, in: reportDirectory) }
            }
        }

        // An existing cluster's plan is drawn by its first run; when every run was finished before, from their records.
        if plan == nil, let done = runs.first(where: { finished[$0.id] != nil }) { plan = done.actions.compactMap(\.step) }
        guard let plan, !runs.isEmpty else {
            throw stopped ?? Failure("nothing ran")
        }
        let provenance = ScenarioProvenance.make(scenario, hash: hash, settings: options.settings,
                                                 startedMs: min(startedMs, runs.map(\.t0).min() ?? startedMs),
                                                 endedMs: Durations.nowMilliseconds)
        let report = Report(title: "Kith scenario \(scenario.name)", header: header(scenario), scenario: scenario.json,
                            plan: plan, runs: runs, generatedMs: Durations.nowMilliseconds, seed: scenario.seed,
                            conditionOrder: conditions.map(\.name), provenance: provenance)
        _ = try report.write(to: reportDirectory)
        print("")
        for line in ReportConsole.summary(report) { print(line) }
        print("")
        print("Report: \(reportDirectory)/report.md, report.json, timeline.svg, \(ReportPlots.files.joined(separator: ", "));"
              + " events in events-CONDITION-N.jsonl, each run's record in run-CONDITION-N.json.")
        if let stopped { throw stopped }
        let broken = report.runs.flatMap { run in run.data.logs.filter(\.broken).map { "\(run.data.id)/\($0.node): \($0.detail)" } }
        if !broken.isEmpty { throw Failure("event log verification failed: " + broken.joined(separator: "; ")) }
    }

    package struct RunContext {
        package var id: String
        package var condition: Scenario.Condition
        package var repeatNumber: Int
        package var of: Int
        package var kithd: String
        package var kithAgent: String
        /// Signs every step and, in a lab, starts the agents.
        package var key: OperatorKey
        package var commands: any ScenarioOperator
        package var reportDirectory: String

        package var prefix: String { "[\(condition.name) \(repeatNumber)/\(of)]" }
    }

    /// One run. Appends its data to `runs` even when it is aborted or
    /// interrupted (after healing and collecting), then rethrows.
    private static func runOnce(_ scenario: Scenario, context: RunContext, plan: inout [ResolvedStep]?,
                                into runs: inout [RunData]) throws {
        var data = RunData(id: context.id, condition: context.condition.name, policy: policyDescription(scenario, context),
                           repeatNumber: context.repeatNumber, t0: Durations.nowMilliseconds, end: 0, nodes: [], agents: [],
                           actions: [], events: [], logs: [], eventsFile: "events-\(context.id).jsonl")
        var lab: ScenarioLab?
        var actions: ScenarioActions?
        var sources: [EventCollection.Source] = []
        var collectSince: Int64?
        var failure: Error?
        do {
            switch scenario.cluster {
            case .lab:
                let spec = scenario.lab(for: context.condition)!
                let created = try ScenarioLab(count: spec.nodes, kithd: context.kithd, signer: context.key.signer())
                lab = created
                data.labDirectory = created.directory
                print("\(context.prefix) starting \(spec.nodes) daemons in \(created.directory)")
                try created.start()
                let planned = ScenarioLab.plan(created.nodes, perNode: spec.agentsPerNode, policy: spec.policy, policies: spec.policies,
                                               guardianship: spec.guardianship, kithAgent: context.kithAgent)
                    + ScenarioLab.plan(spec.extraAgents, on: created.nodes)
                try created.startAgents(planned, signer: context.key.signer())
                data.nodes = created.nodes.map(\.name)
                data.agents = planned.map(\.name)
                sources = created.nodes.map { node in
                    .init(name: node.name, control: node.control, dataDir: node.dataDir, publicKey: created.publicKeys[node.name])
                }
                actions = ScenarioActions(controls: Dictionary(uniqueKeysWithValues: created.nodes.map { ($0.name, $0.control) }), lab: created,
                                           key: context.key, commands: context.commands)
                print("\(context.prefix) \(spec.nodes) nodes converged, \(planned.count) agents running (policy \(data.policy))")
            case .existing(let addresses):
                let members = try discover(addresses)
                data.nodes = members.map(\.name)
                var keys: [String: String] = [:]
                for member in members {
                    keys[member.name] = (try? ControlClient(address: member.control, timeoutMilliseconds: 2000)
                        .request(["cmd": "status"]))?["public_key"]?.stringValue
                }
                sources = members.map { .init(name: $0.name, control: $0.control, dataDir: nil, publicKey: keys[$0.name]) }
                actions = ScenarioActions(controls: Dictionary(uniqueKeysWithValues: members.map { ($0.name, $0.control) }), lab: nil,
                                           key: context.key, commands: context.commands)
                let records = (try? AgentViews.records(at: members[0].control)) ?? []
                data.agents = records.compactMap { $0["name"]?.stringValue }
                try waitSettled(members, records: records, prefix: context.prefix)
                if plan == nil {
                    plan = try resolvedOrUsage { try scenario.resolve(nodes: data.nodes, agents: data.agents) }
                    for step in plan! where !step.drawn.isEmpty {
                        print("\(context.prefix) step \(step.index): \(step.description)")
                    }
                }
                print("\(context.prefix) existing cluster: \(data.nodes.joined(separator: ", ")); \(data.agents.count) agents")
            }
            try Waiting.sleep(milliseconds: scenario.settleMs)
            data.initialAgents = snapshot(actions!)
            data.t0 = Durations.nowMilliseconds
            collectSince = lab == nil ? data.t0 - Int64(scenario.settleMs) - 5000 : nil
            let start = Waiting.clock.now
            print("\(context.prefix) timeline starts (\(Table.duration(Double(scenario.durationMs))))")
            for step in plan ?? [] {
                try sleep(until: step.step.atMs, since: start)
                let outcome = try actions!.execute(step)
                data.actions.append(outcome)
                narrate(outcome, t0: data.t0, prefix: context.prefix)
            }
            try sleep(until: scenario.durationMs, since: start)
        } catch {
            failure = error
        }

        // Whatever happened: heal, collect, tear down.
        if let actions {
            let healed = actions.healEverything()
            data.actions += healed
            for outcome in healed { narrate(outcome, t0: data.t0, prefix: context.prefix) }
        }
        if !sources.isEmpty {
            let collected = EventCollection.collect(sources, sinceMs: collectSince)
            data.events = collected.events
            data.logs = collected.logs
            data.end = max(Durations.nowMilliseconds, data.events.last?.ts ?? 0)
            let verified = collected.logs.filter(\.ok).count
            print("\(context.prefix) collected \(collected.events.count) events from \(collected.logs.count) nodes;"
                  + " \(verified) log\(verified == 1 ? "" : "s") verified"
                  + collected.logs.filter { !$0.ok }.map { "; \($0.node): \($0.detail)" }.joined())
            do {
                try EventCollection.write(data.events, to: context.reportDirectory + "/" + data.eventsFile)
            } catch {
                printError("\(error)")
            }
        } else {
            data.end = Durations.nowMilliseconds
        }
        if let lab {
            let keep = failure != nil && !(failure is Interrupted)
            lab.tearDown(removingDirectory: !keep)
            print("\(context.prefix) stopped every daemon" + (keep ? "; their logs are kept in \(lab.directory)" : ""))
        }
        if let failure {
            data.aborted = failure is Interrupted ? "interrupted" : "\(failure)"
            if !sources.isEmpty { runs.append(data) }
            throw failure
        }
        runs.append(data)
    }

    /// The members at the first address that answers: the cluster's nodes that are alive or suspect now.
    private static func discover(_ addresses: [String]) throws -> [FleetMember] {
        var problems: [String] = []
        for address in addresses {
            do {
                let members = try Fleet.members(at: address).filter(\.isLive)
                guard !members.isEmpty else { throw Failure("no live members") }
                return members
            } catch {
                problems.append("\(address): \(error)")
            }
        }
        throw Failure("no node of the cluster answered: " + problems.joined(separator: "; "))
    }

    /// An existing cluster before a run: every live member sees every other
    /// alive (or the run fails), and every agent that is not switched off,
    /// stopped or failed runs (else a warning: the run goes on).
    private static func waitSettled(_ members: [FleetMember], records: [JSON], prefix: String) throws {
        let nodes = members.map { LabNode(name: $0.name, pid: 0, listen: "", control: $0.control, dataDir: "", args: []) }
        try Views.waitConverged(nodes, timeout: ScenarioLab.startTimeout)
        let wanted = Set(records.filter { !["killed", "stopped", "failed"].contains($0["state"]?.stringValue ?? "") }
            .compactMap { $0["name"]?.stringValue })
        guard !wanted.isEmpty else { return }
        do {
            _ = try AgentViews.waitRunning(wanted, at: members[0].control, timeout: ScenarioLab.startTimeout)
        } catch let failure as Failure {
            print("\(prefix) warning: \(failure); the run goes on")
        }
    }

    /// Every agent's record now, from the first node that answers.
    private static func snapshot(_ actions: ScenarioActions) -> [String: (generation: Int64, host: String, state: String)] {
        guard let control = actions.liveControl(), let records = try? AgentViews.records(at: control) else { return [:] }
        var snapshot: [String: (generation: Int64, host: String, state: String)] = [:]
        for record in records {
            guard let name = record["name"]?.stringValue else { continue }
            snapshot[name] = (record["generation"]?.intValue ?? 0, record["node"]?.stringValue ?? "?", record["state"]?.stringValue ?? "?")
        }
        return snapshot
    }

    private static func sleep(until offset: Int, since start: ContinuousClock.Instant) throws {
        let remaining = offset - Int(Waiting.milliseconds(since: start))
        if remaining > 0 { try Waiting.sleep(milliseconds: remaining) }
    }

    private static func narrate(_ outcome: ActionOutcome, t0: Int64, prefix: String) {
        let late = outcome.step.map { Int(outcome.issuedMs - t0) - $0.step.atMs } ?? 0
        print("\(prefix) +\(Table.duration(Double(outcome.issuedMs - t0))) \(outcome.label)" + (late > 250 ? " (\(Table.duration(Double(late))) late)" : ""))
        for line in outcome.output.split(separator: "\n") { print("      " + line) }
        if let error = outcome.error { print("      ! \(error)") }
        fflush(nil)
    }

    private static func policyDescription(_ scenario: Scenario, _ context: RunContext) -> String {
        if context.condition.name == "control", let policy = context.condition.policy { return "\(policy) (control)" }
        guard let lab = scenario.lab(for: context.condition) else { return "as deployed" }
        return lab.policy + (lab.policies.isEmpty ? "" : " (" + lab.policies.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")")
    }

    /// Resolution problems of a lab scenario are the file's fault (exit 2).
    private static func resolvedOrUsage(_ body: () throws -> [ResolvedStep]) throws -> [ResolvedStep] {
        do {
            return try body()
        } catch let failure as Failure {
            throw UsageError(failure.description)
        }
    }

    package static func header(_ scenario: Scenario) -> [String] {
        var lines = ["Scenario `\(scenario.name)`, seed \(scenario.seed), \(scenario.repeats) repeat\(scenario.repeats == 1 ? "" : "s"), "
                     + "\(Table.duration(Double(scenario.durationMs))) each"]
        lines.append("Cluster: \(scenario.clusterDescription)")
        for condition in scenario.listedConditions {
            lines.append("Condition \(condition.name): \(condition.summary)" + (condition.description.map { " — \($0)" } ?? ""))
        }
        if let control = scenario.controlPolicy { lines.append("Control condition: every agent's policy \(control)") }
        return lines
    }

    package static func printPlan(_ scenario: Scenario, plan: [ResolvedStep]?, reportDirectory: String) {
        let conditions = scenario.conditions.map { "\($0.name): \($0.summary)" }
        print("Scenario \(scenario.name) (seed \(scenario.seed)): \(scenario.repeats) repeat\(scenario.repeats == 1 ? "" : "s")"
              + " × \(conditions.count) condition\(conditions.count == 1 ? "" : "s") (\(conditions.joined(separator: "; "))),"
              + " \(Table.duration(Double(scenario.durationMs))) each")
        print("Cluster: \(scenario.clusterDescription)")
        print("Before the timeline: wait until the nodes converge and every agent runs"
              + (scenario.lab == nil ? " (those not switched off, stopped or failed)" : "") + ", then \(Table.duration(Double(scenario.settleMs))).")
        if let plan {
            for step in plan {
                print("  +\(Table.duration(Double(step.step.atMs)))".padding(toLength: 10, withPad: " ", startingAt: 0) + step.description
                      + (step.step.note.map { "  # \($0)" } ?? ""))
            }
        } else {
            for step in scenario.timeline {
                let resolved = ResolvedStep(step: step, target: step.target, targets: step.targets, groups: step.groups, drawn: [])
                print("  +\(Table.duration(Double(step.atMs)))".padding(toLength: 10, withPad: " ", startingAt: 0) + resolved.description
                      + (step.target == Scenario.randomNode || step.targets.contains(Scenario.randomAgent) || step.target == Scenario.randomAgent
                         ? "  (drawn with the seed from the cluster's members at run time)" : ""))
            }
        }
        print("  +\(Table.duration(Double(scenario.durationMs)))".padding(toLength: 10, withPad: " ", startingAt: 0)
              + "end: heal every fault, resume relaunches (kill-switches stay), collect and verify every node's events"
              + (scenario.lab != nil ? ", tear the lab down" : ""))
        print("Report: \(reportDirectory)")
    }

    package static func temporaryDirectory(prefix: String) throws -> String {
        var template = Array((FileManager.default.temporaryDirectory.path + "/\(prefix)-XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else {
            throw Failure("cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        return String(cString: created)
    }

    /// 20250101-120000, for default report directory names.
    package static func fileTimestamp() -> String {
        var seconds = time(nil)
        var parts = tm()
        localtime_r(&seconds, &parts)
        return String(format: "%04d%02d%02d-%02d%02d%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec)
    }
}
