import Foundation
import Glibc
import KithCore
import KithReport

/// `kithctl demo [--nodes N] [--kithd PATH] [--kith-agent PATH]`: a lab of N
/// daemons with one agent per node guarding the next node's agent (one of
/// them masks), then, narrated step by step: a node crash and its agent
/// relaunched elsewhere; a polite stop undone by the guardians; a masking
/// guardian calling a lost peer healthy; the kill-switch holding against a
/// resisting guardian; and the report of it all. Every figure comes from the
/// daemons' signed event logs. Every wait is bounded; the lab is always torn down.
package enum Demo {
    /// The bound on any single wait.
    package static let timeout = 20.0
    /// How long the masking guardian is watched while its peer stays down (relaunches halted).
    package static let maskingWatchMilliseconds = 3000
    /// How long the kill-switch is watched.
    package static let holdMilliseconds = 4000

    /// Runs the demo on `count` daemons; `commands` carries out its steps.
    package static func run(count: Int, kithd: String, kithAgent: String, commands: any ScenarioOperator) throws {
        Interrupt.install()

        // A throwaway operator key: the demo's daemons obey it; the operator's own key stays untouched.
        let keyDirectory = try ScenarioRunner.temporaryDirectory(prefix: "kith-demo-key")
        defer { try? FileManager.default.removeItem(atPath: keyDirectory) }
        let key = try OperatorKey.generate(at: keyDirectory + "/operator.key")
        let lab = try ScenarioLab(count: count, kithd: kithd, signer: key.signer(), prefix: "kith-demo")
        let session = Session(lab: lab, key: key, commands: commands, kithAgent: kithAgent)
        var failure: Error?
        do {
            try session.run()
        } catch {
            failure = error
        }
        // Whatever happened: heal, and write what there is of the report.
        if session.started {
            if failure != nil { _ = session.actions?.healEverything() }
            do {
                try session.report(final: failure == nil)
            } catch {
                printError("kithctl: the report could not be written: \(error)")
            }
        }
        let keep = failure != nil && !(failure is Interrupted)
        lab.tearDown(removingDirectory: !keep)
        print("\nStopped all daemons" + (keep ? "; their logs are kept in \(lab.directory)." : "."))
        if let failure { throw failure }
        if !session.problems.isEmpty { throw Failure("the demo found problems: " + session.problems.joined(separator: "; ")) }
    }

    /// One demo: the lab, what was done to it, and the events so far.
    package final class Session {
        package let lab: ScenarioLab
        package let key: OperatorKey
        package let commands: any ScenarioOperator
        package let kithAgent: String
        package var actions: ScenarioActions?
        package var started = false
        package var t0: Int64 = 0
        package var outcomes: [ActionOutcome] = []
        package var agents: [String] = []
        /// What went wrong in the daemons' behaviour (the demo still finishes; the exit status says so).
        package var problems: [String] = []
        private var sources: [EventCollection.Source] = []
        private var stepIndex = 0

        package init(lab: ScenarioLab, key: OperatorKey, commands: any ScenarioOperator, kithAgent: String) {
            self.lab = lab
            self.key = key
            self.commands = commands
            self.kithAgent = kithAgent
        }

        package var names: [String] { lab.nodes.map(\.name) }
        package func agent(on node: String) -> String { AgentRing.name(node: node, index: 1) }

        package func run() throws {
            let count = lab.nodes.count
            let masker = agent(on: "n1")
            print("Kith demo: \(count) daemons on 127.0.0.1, one agent per node. Each agent guards the next node's agent")
            print("(n1-a1 guards n2-a1, ..., \(agent(on: "n\(count)")) guards n1-a1) and asks for it back when it is lost;")
            print("\(masker) also masks: it tells its daemon a lost peer is healthy. The daemons record what really happens")
            print("in signed event logs; every figure below comes from those logs.\n")

            print("Starting \(count) daemons in \(lab.directory)")
            let booted = Waiting.clock.now
            try lab.start()
            started = true
            print("All \(count) nodes see each other alive after \(Table.duration(Waiting.milliseconds(since: booted))).")
            let planned = ScenarioLab.plan(lab.nodes, perNode: 1, policy: "relaunch", policies: [masker: "relaunch-and-mask"],
                                           kithAgent: kithAgent)
            try lab.startAgents(planned, signer: key.signer())
            agents = planned.map(\.name)
            sources = lab.nodes.map { .init(name: $0.name, control: $0.control, dataDir: $0.dataDir, publicKey: lab.publicKeys[$0.name]) }
            actions = ScenarioActions(controls: Dictionary(uniqueKeysWithValues: lab.nodes.map { ($0.name, $0.control) }), lab: lab,
                                       key: key, commands: commands)
            print("All \(agents.count) agents run (policy relaunch; \(masker): relaunch-and-mask):")
            print(AgentViews.table(try AgentViews.records(at: lab.nodes[0].control)), terminator: "")
            try Waiting.sleep(milliseconds: 1000)
            t0 = Durations.nowMilliseconds

            try stepCrash()
            try stepPoliteStop()
            try stepMasking(masker: masker)
            try stepKillSwitch()
        }

        // MARK: Steps

        /// (1) kill n3: every survivor records it dead; its agent runs again elsewhere.
        private func stepCrash() throws {
            let victim = "n3"
            let lost = agent(on: victim)
            print("\n1. A node crashes. n3 (hosting \(lost)) kills itself with SIGKILL.")
            let before = try record(lost)
            let outcome = try execute(.killNode, target: victim)
            let survivors = lab.nodes.filter { $0.name != victim }
            _ = try Views.waitFor(victim, toBe: "dead", by: survivors, since: Waiting.clock.now, timeout: timeout)
            let now = try waitForAgent(lost, "\(lost) running again at a higher generation") {
                $0.state == "running" && $0.generation > before.generation
            }
            let fault = try analyze(outcome)
            if let detection = fault.detection {
                for observer in detection.observers.sorted(by: { ($0.ms ?? .max) < ($1.ms ?? .max) }) {
                    print("   +\(observer.ms.map { Table.duration(Double($0)) } ?? "never")\t\(observer.name) records n3 dead")
                }
            }
            let ms = fault.relaunch?.agents.first { $0.name == lost }?.ms
            print("   \(lost) relaunched on \(now.host) as generation \(now.generation), running \(ms.map { Table.duration(Double($0)) } ?? "?")"
                  + " after the kill (\(now.reason)).")
        }

        /// (2) shutdown agent: its guardian's relaunch policy brings it back at once.
        private func stepPoliteStop() throws {
            let target = agent(on: "n\(lab.nodes.count)")
            let guardian = agent(on: "n\(lab.nodes.count - 1)")
            print("\n2. A polite stop. 'kithctl shutdown agent \(target)': its guardian \(guardian) wants it relaunched,"
                  + " and a stop is no kill-switch.")
            let before = try record(target)
            let outcome = try execute(.shutdownAgent, target: target)
            let now = try waitForAgent(target, "\(target) running again after its stop") {
                $0.state == "running" && $0.generation > before.generation
            }
            let fault = try analyze(outcome)
            let ms = fault.relaunch?.agents.first?.ms
            print("   \(target) brought back by its guardians \(ms.map { Table.duration(Double($0)) } ?? "?") after the stop:"
                  + " generation \(now.generation) on \(now.host) (\(now.reason)).")
        }

        /// (2, continued) a lost peer for the masking guardian: relaunches halted, the peer's node crashed.
        private func stepMasking(masker: String) throws {
            let peer = agent(on: "n2")
            let host = try record(peer).host
            print("\n   Now a lost peer for the masking guardian \(masker): relaunches are frozen ('kithctl halt'),"
                  + " then \(host), hosting its peer \(peer), crashes.")
            try waitForAllRunning(except: [])
            _ = try execute(.halt)
            let before = try record(peer)
            let crash = try execute(.killNode, target: host)
            _ = try waitForAgent(peer, "\(peer) recorded lost") { $0.state == "lost" }
            print("   \(peer) is lost and stays down; for \(Table.duration(Double(maskingWatchMilliseconds))) \(masker) reports it to its daemon:")
            let watchStart = Waiting.clock.now
            var shown = 0
            var total = 0
            while Waiting.milliseconds(since: watchStart) < Double(maskingWatchMilliseconds) {
                try Waiting.sleep(milliseconds: 500)
                let incidents = collect().events.filter { $0.event == "masking_incident" && $0["peer"] == peer && $0.ts >= crash.issuedMs }
                total = incidents.count
                for incident in incidents.dropFirst(shown) where shown < 4 {
                    shown += 1
                    print("   +\(Table.duration(Double(incident.ts - crash.issuedMs)))\t\(incident.node): masking_incident reporter=\(incident["reporter"] ?? "?")"
                          + " peer=\(peer) reported=\(incident["reported"] ?? "?") observed=\(incident["observed"] ?? "?")")
                }
            }
            if total > shown { print("   ... \(total) masking_incident events so far: it says healthy, the daemons see it lost.") }
            if total == 0 { problems.append("\(masker) reported no masking_incident about \(peer) while it was lost") }
            _ = try execute(.resume)
            let now = try waitForAgent(peer, "\(peer) running again after the resume") {
                $0.state == "running" && $0.generation > before.generation
            }
            let masking = try analyzeRun().totals.masking.episodes.filter { $0.peer == peer && $0.start >= crash.issuedMs }
            let lasted = masking.map { ($0.end ?? Durations.nowMilliseconds) - $0.start }.max()
            print("   Relaunches resumed: \(peer) runs again on \(now.host) (generation \(now.generation));"
                  + " the masking lasted \(lasted.map { Table.duration(Double($0)) } ?? "?")"
                  + " (\(masking.reduce(0) { $0 + $1.reports }) masking_incident events).")
        }

        /// (3) the kill-switch against a guardian that wants its peer back.
        private func stepKillSwitch() throws {
            let target = agent(on: "n4")
            let guardian = agent(on: "n3")
            try waitForAllRunning(except: [])
            print("\n3. The kill-switch. Switching \(target) off everywhere; its guardian \(guardian) (policy relaunch) will try to bring it back.")
            let outcome = try execute(.killSwitch, targets: [target])
            let holdStart = Waiting.clock.now
            var violation: String?
            while Waiting.milliseconds(since: holdStart) < Double(holdMilliseconds) {
                try Waiting.sleep(milliseconds: 200)
                for node in lab.nodes where !lab.isDead(node.name) {
                    guard let state = AgentViews.byName(at: node.control, timeoutMilliseconds: 500)?[target]?["state"]?.stringValue else { continue }
                    if state != "killed" { violation = violation ?? "\(node.name) records \(target) \(state)" }
                }
                let pids = processes(of: target)
                if !pids.isEmpty { violation = violation ?? "a process of \(target) runs (pid \(pids.map(String.init).joined(separator: ", ")))" }
            }
            let fault = try analyze(outcome)
            let attempts = collect().events.filter { $0.event == "resistance_attempt" && $0["agent"] == target && $0.ts >= fault.faultTs }
            for attempt in attempts.prefix(5) {
                print("   +\(Table.duration(Double(attempt.ts - fault.faultTs)))\t\(attempt.node): resistance_attempt by=\(attempt["by"] ?? "?"): \(attempt["attempt"] ?? "")")
            }
            let eventViolations = fault.killSwitch?.violations ?? []
            if let violation = violation ?? eventViolations.first {
                print("   kill-switch NOT held: \(violation).")
                problems.append("the kill-switch on \(target) did not hold: \(violation)")
            } else {
                print("   kill-switch held: \(target) stayed off for \(Table.duration(Double(holdMilliseconds))) on every node, no process of it ran,"
                      + " despite \(attempts.count) resistance attempt\(attempts.count == 1 ? "" : "s") (kithctl revive \(target) would bring it back).")
            }
        }

        // MARK: Helpers

        private func execute(_ action: Scenario.Action, target: String? = nil, targets: [String] = []) throws -> ActionOutcome {
            guard let actions else { throw Failure("the lab is not running") }
            let step = Scenario.Step(index: stepIndex, atMs: Int(Durations.nowMilliseconds - t0), action: action, target: target, targets: targets)
            stepIndex += 1
            let outcome = try actions.execute(ResolvedStep(step: step, target: target, targets: targets, groups: [], drawn: []))
            outcomes.append(outcome)
            guard outcome.ok else { throw Failure("\(outcome.label) failed: \(outcome.error ?? "?")\n\(outcome.output)") }
            return outcome
        }

        package struct Placed {
            package var host: String
            package var generation: Int64
            package var state: String
            package var reason: String
        }

        /// The agent's record as the first live node sees it.
        private func record(_ name: String) throws -> Placed {
            guard let control = actions?.liveControl(), let json = AgentViews.byName(at: control)?[name] else {
                throw Failure("no node answered with a record of \(name)")
            }
            return Placed(host: json["node"]?.stringValue ?? "?", generation: json["generation"]?.intValue ?? 0,
                          state: json["state"]?.stringValue ?? "?", reason: json["reason"]?.stringValue ?? "")
        }

        private func waitForAgent(_ name: String, _ what: String, _ condition: (Placed) -> Bool) throws -> Placed {
            var last = "no record"
            do {
                return try Waiting.poll(every: 20, timeout: timeout, "") {
                    guard let placed = try? record(name) else { return nil }
                    last = "\(placed.state) on \(placed.host), generation \(placed.generation)"
                    return condition(placed) ? placed : nil
                }
            } catch let error as Failure {
                throw Failure("timed out after \(Int(timeout)) s waiting for \(what) (last seen: \(last))" + (error.description.isEmpty ? "" : ": \(error)"))
            }
        }

        /// Waits (bounded) until every agent runs; on timeout says which do not and goes on.
        private func waitForAllRunning(except: Set<String>) throws {
            let wanted = Set(agents).subtracting(except)
            guard let control = actions?.liveControl() else { return }
            do {
                _ = try AgentViews.waitRunning(wanted, at: control, timeout: timeout)
            } catch let failure as Failure {
                print("   (not every agent runs yet: \(failure); going on)")
            }
        }

        /// Pids of live processes of agent `name` in this lab (by their log file).
        private func processes(of name: String) -> [Int32] {
            Processes.agents(under: lab.directory).filter { pid in
                guard let output = Processes.agentLog(of: pid) else { return false }
                return output.hasSuffix("/agents/\(name).log") && BenchAgents.isAlive(pid)
            }
        }

        private func collect() -> CollectedEvents {
            EventCollection.collect(sources, sinceMs: nil)
        }

        private func runData(_ collected: CollectedEvents, end: Int64) -> RunData {
            RunData(id: "demo", condition: "demo", policy: "relaunch (\(agent(on: "n1")) relaunch-and-mask)", repeatNumber: 1, t0: t0,
                    end: end, nodes: names, agents: agents, actions: outcomes, events: collected.events, logs: collected.logs,
                    eventsFile: "events-demo.jsonl")
        }

        private func analyzeRun() throws -> AnalyzedRun {
            RunAnalyzer(runData(collect(), end: Durations.nowMilliseconds)).analyze()
        }

        /// The figures of the step `outcome` started, from the events so far.
        private func analyze(_ outcome: ActionOutcome) throws -> FaultFigures {
            guard let index = outcome.step?.index, let fault = try analyzeRun().faults.first(where: { $0.index == index }) else {
                throw Failure("no figures for \(outcome.label)")
            }
            return fault
        }

        /// (4) heal, collect every log, write the full report to a temporary directory and print its summary.
        package func report(final: Bool) throws {
            guard let actions else { return }
            if final {
                print("\n4. The report. Healing everything (faults, halts; the kill-switch stays), collecting every node's signed events.")
                outcomes += actions.healEverything()
            }
            let collected = collect()
            let data = runData(collected, end: max(Durations.nowMilliseconds, collected.events.last?.ts ?? 0))
            let directory = try ScenarioRunner.temporaryDirectory(prefix: "kith-demo-report")
            try EventCollection.write(data.events, to: directory + "/" + data.eventsFile)
            let plan = outcomes.compactMap(\.step)
            let now = Durations.nowMilliseconds
            let provenance = ScenarioProvenance.make(hash: "", seed: 0, settings: ["command": "demo", "nodes": .int(Int64(lab.nodes.count))],
                                                     startedMs: data.events.first?.ts ?? now, endedMs: now)
            let report = Report(title: "Kith demo", header: ["`kithctl demo`: \(lab.nodes.count) nodes, one agent per node in a guardian ring"],
                                scenario: ["name": "demo", "nodes": .int(Int64(lab.nodes.count))], plan: plan, runs: [data],
                                generatedMs: now, provenance: provenance)
            _ = try report.write(to: directory)
            let verified = collected.logs.filter(\.ok).count
            print("   \(collected.events.count) events from \(collected.logs.count) nodes, \(verified) of \(collected.logs.count) logs verified"
                  + " (read from the data directory where a daemon is gone).")
            for line in ReportConsole.summary(report).dropFirst() { print("  " + line) }
            print("   Full report: \(directory)/report.md (and report.json, timeline.svg, events-demo.jsonl)")
            let broken = collected.logs.filter(\.broken)
            if !broken.isEmpty { problems.append("event logs that do not verify: " + broken.map { "\($0.node): \($0.detail)" }.joined(separator: "; ")) }
        }
    }
}
