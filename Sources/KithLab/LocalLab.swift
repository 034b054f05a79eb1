import Foundation
import Glibc
import KithControl
import KithCore
import KithReport

/// A lab of daemons on 127.0.0.1 that outlives kithctl, remembered in DIR/lab.json.
package enum LocalLab: LabKind {
    /// How long `lab up` and `lab start` wait for daemons to answer (`answerTimeout` for large labs).
    package static let startTimeout = 15.0
    /// `startTimeout`, and 0.1 s per node beyond 150: 256 daemons starting at once share the machine's few cores.
    package static func answerTimeout(count: Int) -> Double { max(startTimeout, Double(count) * 0.1) }
    /// How long `lab down` lets daemons leave gracefully before SIGKILL.
    package static let stopTimeout = 3.0

    /// What `lab up --agents K` starts once the cluster has converged.
    package struct LabAgents {
        package var perNode: Int
        package var policy: String
        package var kithAgent: String

        package init(perNode: Int, policy: String, kithAgent: String) {
            self.perNode = perNode
            self.policy = policy
            self.kithAgent = kithAgent
        }
    }

    /// How long `lab up --agents` waits for the cluster to converge and then for every agent to run.
    package static let agentsTimeout = 30.0

    package static func isRecorded(in directory: String) -> Bool {
        !NetnsLabRecord.isNetns(directory)
    }

    package static func record(in directory: String) throws -> LabRecord {
        guard let record = try LabRecord.load(from: directory) else {
            throw Failure("no lab recorded in \(directory) (start one with 'kithctl lab up')")
        }
        return record
    }

    /// Starts the daemons (in `LabWaves` past 32), records them at once (so `lab down` can clean up even
    /// if this command dies), then waits for each to answer `status`. With
    /// `agents`, waits for the cluster to converge, starts the agent ring and
    /// waits until every agent runs.
    package static func up(count: Int, directory: String, kithd: String, agents: LabAgents? = nil, relaunchQuorum: String? = nil,
                   insecure: Bool = false, key: OperatorKey) throws {
        let signer = try prepareUp(in: directory, key: key)
        var record = LabRecord(kithd: kithd, nodes: try LabLayout.plan(count: count, directory: directory, operatorKey: signer.publicKeyHex,
                                                                              insecure: insecure, signer: signer),
                               operatorKey: signer.publicKeyHex)
        record.setRelaunchQuorum(relaunchQuorum)
        // New daemons, new event-log keys under the old names: the pins of an earlier lab no longer apply.
        KnownNodes.forget(record.nodes.map(\.name))
        do {
            // In waves past 32 nodes (`LabWaves`), recorded after each so 'lab down' finds every started daemon.
            var nodes = record.nodes
            try LabWaves.start(&nodes, timeout: answerTimeout(count: count), launch: { try LabLayout.launch($0, kithd: kithd) },
                               started: { started in
                                   record.nodes = started
                                   try record.save(to: directory)
                               }) { running in
                for node in running { try LabLayout.checkStillRunning(node) }
            }
            record.nodes = nodes
            try waitUntilAnswering(record.nodes)
            if let agents {
                let nodes = record.nodes
                try Views.waitConverged(nodes, timeout: agentsTimeout) {
                    for node in nodes { try LabLayout.checkStillRunning(node) }
                }
                let planned = AgentRing.plan(nodes, perNode: agents.perNode, policy: agents.policy, kithAgent: agents.kithAgent)
                try AgentRing.start(planned, signer: signer)
                _ = try AgentViews.waitRunning(Set(planned.map(\.name)), at: nodes[0].control, timeout: agentsTimeout) {
                    for node in nodes { try LabLayout.checkStillRunning(node) }
                }
            }
        } catch {
            for node in record.nodes where node.pid > 0 {
                kill(node.pid, SIGKILL)
                waitpid(node.pid, nil, 0)
            }
            try? LabRecord.remove(from: directory)
            throw error
        }
        print("Lab of \(count) nodes running in \(directory):")
        printNodes(record)
        if let agents {
            print("\(agents.perNode * count) agents running (\(agents.perNode) per node, policy \(agents.policy));"
                  + " each node's agents protect the next node's. See them with 'kithctl agents'.")
        }
        if directory != LabRecord.defaultDirectory() {
            print("Other commands find it with --dir \(directory) or KITH_LAB_DIR=\(directory).")
        }
    }

    /// The first steps of `lab up`, shared with `NetnsLab.up`: refuses to start over a lab whose daemons
    /// still live, creates `directory`, loads (or creates and announces) the operator key the daemons
    /// will obey (`key`), and installs the Ctrl-C handler.
    package static func prepareUp(in directory: String, key: OperatorKey) throws -> OperatorSigner {
        if let existing = try LabRecord.load(from: directory),
           existing.nodes.contains(where: { Processes.state(of: $0.pid, dataDir: $0.dataDir) != .dead }) {
            throw Failure("a lab is already running in \(directory); run 'kithctl lab down' first")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (signer, createdKey) = try key.signerCreatingKey()
        if createdKey {
            printError("Created operator key \(key.path) (public key \(signer.publicKeyHex)); the lab's daemons obey it.")
        }
        Interrupt.install()
        return signer
    }

    /// Polls until every node answers; a daemon that exits meanwhile fails at once with its log. Also
    /// `NetnsLab`'s, whose daemons answer the same way from their namespaces.
    package static func waitUntilAnswering(_ nodes: [LabNode]) throws {
        var answered: Set<String> = []
        let timeout = answerTimeout(count: nodes.count)
        try Waiting.poll(every: 50, timeout: timeout, "no answer within \(Int(timeout)) s from "
                         + nodes.filter { !answered.contains($0.name) }.map { "\($0.name) (log: \($0.logPath))" }.joined(separator: ", ")) {
            for node in nodes where !answered.contains(node.name) {
                try LabLayout.checkStillRunning(node)
                if Views.answersStatus(node.control) { answered.insert(node.name) }
            }
            return answered.count == nodes.count ? () : nil
        }
    }

    package static func status(directory: String, json: Bool) throws {
        let record = try record(in: directory)
        let agents = agentCounts(record)
        if json {
            let nodes: [JSON] = record.nodes.map { node in
                let state = Processes.state(of: node.pid, dataDir: node.dataDir)
                var entry: [String: JSON] = [
                    "name": .string(node.name), "pid": .int(Int64(node.pid)), "listen": .string(node.listen),
                    "control": .string(node.control), "running": .bool(state == .running), "state": .string(state.rawValue),
                ]
                if let http = node.http { entry["http"] = .string(http) }
                if let agents { entry["agents"] = .int(Int64(agents.running[node.name] ?? 0)) }
                return .object(entry)
            }
            print(JSON.array(nodes).serialized(pretty: true))
        } else {
            printNodes(record, agents: agents)
            if let quorum = record.relaunchQuorum { print("Relaunch quorum: \(quorum).") }
            if let agents, agents.total > 0 {
                let states = agents.states.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                print("Agents as \(agents.observer) sees them: \(agents.total) (\(states)).")
            }
        }
    }

    /// The lab's agents as one node sees them, for `lab status`.
    private struct AgentCounts {
        var observer: String
        var total: Int
        /// Node → agents running there.
        var running: [String: Int]
        /// State → agents in it.
        var states: [String: Int]
    }

    /// Agent counts as the first node that answers sees them; nil when none
    /// answers (the whole lab is down or paused).
    private static func agentCounts(_ record: LabRecord) -> AgentCounts? {
        for node in record.nodes where Processes.state(of: node.pid, dataDir: node.dataDir) == .running {
            guard let agents = try? AgentViews.records(at: node.control, timeoutMilliseconds: 500) else { continue }
            var running: [String: Int] = [:]
            var states: [String: Int] = [:]
            for agent in agents {
                let state = agent["state"]?.stringValue ?? "unknown"
                states[state, default: 0] += 1
                if state == "running", let host = agent["node"]?.stringValue { running[host, default: 0] += 1 }
            }
            return AgentCounts(observer: node.name, total: agents.count, running: running, states: states)
        }
        return nil
    }

    private static func printNodes(_ record: LabRecord, agents: AgentCounts? = nil) {
        let showAgents = (agents?.total ?? 0) > 0
        let rows = record.nodes.map { node in
            [node.name, String(node.pid), Processes.state(of: node.pid, dataDir: node.dataDir).rawValue, node.listen, node.control]
                + (showAgents ? [String(agents?.running[node.name] ?? 0)] : [])
        }
        let header = ["NAME", "PID", "STATE", "LISTEN", "CONTROL"] + (showAgents ? ["AGENTS"] : [])
        print(Table.render(header: header, rows: rows), terminator: "")
    }

    /// SIGTERM (after SIGCONT, in case a node is paused) so nodes leave gracefully;
    /// SIGKILL whatever is left after `stopTimeout`. Only pids still running
    /// with our data directory are signalled, so a reused pid is never hit.
    package static func down(directory: String) throws {
        guard let record = try LabRecord.load(from: directory) else {
            print("No lab recorded in \(directory); nothing to stop.")
            return
        }
        let running = record.nodes.filter { Processes.state(of: $0.pid, dataDir: $0.dataDir) != .dead }
        for node in running {
            Processes.send(SIGCONT, to: node.pid, dataDir: node.dataDir)
            Processes.send(SIGTERM, to: node.pid, dataDir: node.dataDir)
        }
        let start = Waiting.clock.now
        var remaining = running
        while !remaining.isEmpty && Waiting.milliseconds(since: start) < stopTimeout * 1000 {
            usleep(20_000)
            remaining.removeAll { Processes.state(of: $0.pid, dataDir: $0.dataDir) == .dead }
        }
        for node in remaining {
            Processes.send(SIGKILL, to: node.pid, dataDir: node.dataDir)
        }
        // A daemon stops its agents on SIGTERM; whatever a killed one left behind goes too.
        Processes.killAgents(under: directory)
        try LabRecord.remove(from: directory)
        for node in record.nodes {
            let outcome = !running.contains { $0.name == node.name } ? "was not running"
                : remaining.contains { $0.name == node.name } ? "killed (did not stop within \(Int(stopTimeout)) s)" : "stopped"
            print("\(node.name): \(outcome)")
        }
    }

    package static func send(_ signal: Int32, named signalName: String, to name: String, directory: String) throws {
        let record = try record(in: directory)
        let node = record.nodes[try record.index(of: name)]
        guard Processes.send(signal, to: node.pid, dataDir: node.dataDir) else {
            throw Failure("\(name) is not running (pid \(node.pid))")
        }
        print("Sent \(signalName) to \(name) (pid \(node.pid)).")
    }

    /// Starts a stopped or killed node again with its recorded arguments: same
    /// name, ports and data directory, so it rejoins as a new boot of the same member.
    package static func start(_ name: String, directory: String) throws {
        var record = try record(in: directory)
        let index = try record.index(of: name)
        let node = record.nodes[index]
        guard Processes.state(of: node.pid, dataDir: node.dataDir) == .dead else {
            throw Failure("\(name) is already running (pid \(node.pid)); 'kithctl lab kill \(name)' first")
        }
        Interrupt.install()
        record.nodes[index].pid = try LabLayout.launch(node, kithd: record.kithd, appendingToLog: true)
        try record.save(to: directory)
        try waitUntilAnswering([record.nodes[index]])
        print("Started \(name) (pid \(record.nodes[index].pid)).")
    }
}
