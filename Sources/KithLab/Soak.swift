import Foundation
import KithControl
import KithCore
import KithReport

/// `kithctl soak`: a lab of real daemons under a seeded schedule of random faults (`SoakSchedule`),
/// carried out by the scenario runner's operator commands, healed, then judged by the history checker
/// over every node's verified events. The lab is torn down at the end; its logs are kept when the check fails.
package enum Soak {
    package struct Options {
        package var durationMs: Int
        package var seed: UInt64
        package var nodes: Int
        package var agentsPerNode: Int
        /// Where the events, the steps with their outcomes and the verdict are written.
        package var directory: String
        package var kithd: String?
        package var kithAgent: String?
        /// Every daemon's `--relaunch-quorum`: `majority` (the default) is the setting under which one copy
        /// at a time holds across partitions; `any` relaunches on both sides of a cut, by design.
        package var quorum: RelaunchQuorum

        package init(durationMs: Int, seed: UInt64, nodes: Int, agentsPerNode: Int, directory: String, kithd: String?, kithAgent: String?,
                     quorum: RelaunchQuorum = .majority) {
            self.quorum = quorum
            self.durationMs = durationMs
            self.seed = seed
            self.nodes = nodes
            self.agentsPerNode = agentsPerNode
            self.directory = directory
            self.kithd = kithd
            self.kithAgent = kithAgent
        }
    }

    package struct Outcome {
        package var faults: Int
        package var steps: Int
        package var failedSteps: Int
        package var verdict: HistoryVerdict
        package var logs: [CollectedEvents.NodeLog]

        package var ok: Bool { verdict.ok && logs.allSatisfy(\.ok) }
    }

    package static func run(_ options: Options, commands: any ScenarioOperator) throws -> Outcome {
        let kithd = try LabLayout.kithd(options.kithd)
        let kithAgent = try Executables.kithAgent(options.kithAgent)
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        // A throwaway operator key: the operator's own key and counter stay untouched.
        let keyDirectory = try ScenarioRunner.temporaryDirectory(prefix: "kith-soak-key")
        defer { try? FileManager.default.removeItem(atPath: keyDirectory) }
        let key = try OperatorKey.generate(at: keyDirectory + "/operator.key")
        Interrupt.install()

        let lab = try ScenarioLab(count: options.nodes, kithd: kithd, signer: key.signer(),
                                  kithdArgs: ["--relaunch-quorum", options.quorum.rawValue], prefix: "kith-soak")
        var keepLab = true
        defer { lab.tearDown(removingDirectory: !keepLab) }
        print("soak: starting \(options.nodes) daemons in \(lab.directory)")
        try lab.start()
        let planned = ScenarioLab.plan(lab.nodes, perNode: options.agentsPerNode, policy: "relaunch", kithAgent: kithAgent)
        try lab.startAgents(planned, signer: key.signer())
        let schedule = SoakSchedule(seed: options.seed, nodes: lab.nodes.map(\.name), agents: planned.map(\.name),
                                    durationMs: options.durationMs)
        print("soak: \(planned.count) agents running; \(schedule.faults) faults in \(schedule.steps.count) steps over"
              + " \(Table.duration(Double(options.durationMs))), seed \(options.seed)")

        let actions = ScenarioActions(controls: Dictionary(uniqueKeysWithValues: lab.nodes.map { ($0.name, $0.control) }), lab: lab,
                                      key: key, commands: commands)
        var outcomes: [ActionOutcome] = []
        var stopped: Error?
        let start = Waiting.clock.now
        let t0 = Durations.nowMilliseconds
        do {
            for step in schedule.steps {
                try sleep(until: step.step.atMs, since: start)
                var outcome = try actions.execute(step)
                // A graceful shutdown may outlast the planned downtime: start the node once it is gone.
                if step.action == .startNode, !outcome.ok, let target = step.target, !lab.isDead(target) {
                    try? Waiting.poll(every: 100, timeout: 10, "\(target) did not exit") { lab.isDead(target) ? () : nil }
                    outcome = try actions.execute(step)
                }
                outcomes.append(outcome)
                print("  +\(Table.duration(Double(outcome.issuedMs - t0))) \(outcome.label)" + (outcome.error.map { "  ! \($0)" } ?? ""))
                fflush(nil)
            }
            // Steps can run late (a fan-out waiting for a paused node): the quiet tail still follows the last.
            try sleep(until: max(options.durationMs, Int(Waiting.milliseconds(since: start)) + SoakSchedule.Settings().tailMs),
                      since: start)
        } catch {
            stopped = error
        }
        outcomes += actions.healEverything()

        // Read from the data directories: a daemon answering `events` for its whole log stalls its loop for
        // seconds (a 30-minute soak's log), long enough for the others to declare it dead.
        let sources = lab.nodes.map { node in
            EventCollection.Source(name: node.name, control: nil, dataDir: node.dataDir, publicKey: lab.publicKeys[node.name])
        }
        let collected = EventCollection.collect(sources, sinceMs: nil)
        let verified = collected.events.filter { event in collected.logs.contains { $0.node == event.node && $0.ok } }
        let history = HistoryChecker.History(events: verified, nodes: lab.nodes.map(\.name), guardians: guardians(planned))
        let verdict = HistoryChecker(history).check()
        let outcome = Outcome(faults: schedule.faults, steps: outcomes.filter { $0.step != nil }.count,
                              failedSteps: outcomes.filter { $0.step != nil && !$0.ok }.count, verdict: verdict, logs: collected.logs)
        try write(outcome, options: options, outcomes: outcomes, events: collected.events)
        keepLab = !outcome.ok
        if let stopped { throw stopped }
        return outcome
    }

    /// Agent → the ring agents that protect it (all of them relaunch).
    private static func guardians(_ planned: [AgentRing.Planned]) -> [String: [String]] {
        var guardians: [String: [String]] = Dictionary(uniqueKeysWithValues: planned.map { ($0.name, []) })
        for agent in planned where agent.spec["policy"]?.stringValue != "none" {
            for protected in (agent.spec["protects"]?.arrayValue ?? []).compactMap(\.stringValue) {
                guardians[protected, default: []].append(agent.name)
            }
        }
        return guardians
    }

    /// DIR/events.jsonl (every node's signed records, merged), DIR/soak.json (settings, steps and their
    /// outcomes, logs, verdict) and DIR/check.txt (the verdict as `kithctl check` prints it).
    private static func write(_ outcome: Outcome, options: Options, outcomes: [ActionOutcome], events: [EventRecord]) throws {
        try EventCollection.write(events, to: options.directory + "/events.jsonl")
        let json: JSON = [
            "seed": .int(Int64(bitPattern: options.seed)), "duration_ms": .int(Int64(options.durationMs)),
            "nodes": .int(Int64(options.nodes)), "agents_per_node": .int(Int64(options.agentsPerNode)),
            "faults": .int(Int64(outcome.faults)), "steps": .int(Int64(outcome.steps)), "failed_steps": .int(Int64(outcome.failedSteps)),
            "ok": .bool(outcome.ok), "actions": .array(outcomes.map(\.json)), "logs": .array(outcome.logs.map(\.json)),
            "check": outcome.verdict.json,
        ]
        do {
            try (json.serialized(pretty: true) + "\n").write(toFile: options.directory + "/soak.json", atomically: true, encoding: .utf8)
            try outcome.verdict.text.write(toFile: options.directory + "/check.txt", atomically: true, encoding: .utf8)
        } catch {
            throw Failure("cannot write the soak's files in \(options.directory): \(error.localizedDescription)")
        }
    }

    private static func sleep(until offset: Int, since start: ContinuousClock.Instant) throws {
        let remaining = offset - Int(Waiting.milliseconds(since: start))
        if remaining > 0 { try Waiting.sleep(milliseconds: remaining) }
    }
}
