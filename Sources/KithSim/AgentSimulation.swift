import KithCore

/// One agent process in the simulated cluster, as the node's supervisor
/// would hold it.
public struct SimAgentProcess: Hashable, Sendable, CustomStringConvertible {
    public var agent: String
    public var generation: UInt64
    public var pid: Int32
    public var node: String
    /// The process said hello to its daemon (`connected` was reported).
    public var connected = false
    /// The agent's progress: restored from the checkpoint it was spawned
    /// with, one more at every checkpoint it takes (the reference agent's counter).
    public var counter: UInt64
    public var spawnedAt: Instant
    /// Quarantined: the process is kept but does nothing (no hello, checkpoint or message).
    public var frozen = false

    public var description: String {
        "\(agent)@\(node) gen \(generation) pid \(pid)\(connected ? "" : " (starting)")\(frozen ? " (frozen)" : "") counter \(counter)"
    }
}

/// A `.spawn` a node's registry asked for.
public struct AgentSpawn: Hashable, Sendable, CustomStringConvertible {
    public var time: Instant
    public var node: String
    public var record: AgentRecord
    public var checkpoint: Checkpoint?
    /// The counter the process restored from `checkpoint` (0 without one).
    public var counter: UInt64
    /// The highest counter of this agent acknowledged anywhere before this spawn.
    public var acknowledgedBefore: UInt64

    public var description: String {
        "\(time) \(node) spawns \(record.name) gen \(record.generation) (\(record.reason)) from "
            + (checkpoint.map { "checkpoint \($0.generation).\($0.seq), counter \(counter)" } ?? "no checkpoint")
            + "; acknowledged before: \(acknowledgedBefore)"
    }
}

/// A `.checkpointAcknowledged`: the checkpoint is held by enough other nodes.
public struct CheckpointAcknowledgement: Hashable, Sendable {
    public var time: Instant
    public var node: String
    public var agent: String
    public var generation: UInt64
    public var seq: UInt64
    /// The counter the checkpoint carried.
    public var counter: UInt64
    public var replicas: Int
}

/// A node relaunched an agent on itself (a new generation hosted here, not
/// asked for by an operator), with every running node's registry at that
/// instant, so a test can ask what each of them would have picked.
public struct RelaunchDecision: Sendable, CustomStringConvertible {
    public var time: Instant
    public var node: String
    public var previous: AgentRecord
    public var record: AgentRecord
    /// Every running node's registry right after the decision, the decider's included.
    public var registries: [String: AgentRegistry]

    public var description: String {
        "\(time) \(node) relaunches \(record.name) gen \(previous.generation) -> \(record.generation) "
            + "(was \(previous.state.rawValue) on \(previous.host)): \(record.reason)"
    }
}

/// A process said hello: the agent runs (again) there.
public struct AgentConnection: Hashable, Sendable {
    public var time: Instant
    public var node: String
    public var agent: String
    public var generation: UInt64
}

/// A spawn that left more than one process of an agent in the cluster.
public struct AgentDuplicate: Hashable, Sendable, CustomStringConvertible {
    public var time: Instant
    public var agent: String
    /// Every copy right after the spawn, as "node gen N".
    public var copies: [String]
    /// How many of the copies sit on paused nodes (frozen, not running).
    public var onPausedNodes: Int
    public var description: String { "\(time) \(agent) runs \(copies.count) times: \(copies.joined(separator: ", "))" }
}

/// One line of the agent layer's history, for reports and replays.
public struct AgentLogEntry: Hashable, Sendable, CustomStringConvertible {
    public var time: Instant
    public var node: String
    public var text: String
    public var description: String { "\(time) \(node): \(text)" }
}


/// Agent processes above every simulated node's `NodeCore`, as a daemon's
/// supervisor and agent socket sit above its core. The core is the
/// daemon's, unchanged: this class only plays the shell and the agents.
///
/// - `.spawn` → a process for (agent, generation), replacing (stopping)
///   any older one of that name; `agentSpawned` at once, and a hello
///   (`agentConnected`) after `connectDelay` plus up to as much again;
/// - `.stopAgent` → the process stops, as SIGTERM then SIGKILL after the
///   supervisor's grace: it lingers up to `stopGrace`, no longer speaking;
/// - `.fenceAgent` → every process of the agent on that node is gone at once;
/// - a crash, power-off or reboot of the node takes all its processes; a
///   pause freezes them (their requests wait for the resume).
/// A connected process checkpoints its counter every `checkpointInterval`
/// (if set), sends a message to the agent it protects every
/// `messageInterval` (if set), and a guardian that hears `peer_lost` asks
/// for a relaunch if its policy says so (as the reference agent does).
///
/// Properties checked at every step (`violations`): no spawn on a node
/// that knows the agent's kill-switch, no process of a switched-off agent
/// outlives an input of a node that knows it, and a duplicate copy ends
/// within `duplicateWindowMax` once its hosts see each other again.
/// Everything random comes from the simulation's generator, so a seed
/// replays the same agent history too (`digest`).
public final class AgentSimulation: SimulationLayer, PropertyMonitor {
    public let sim: Simulation
    /// How often each connected process checkpoints; nil: never (set it to
    /// nil to let the cluster quiesce).
    public var checkpointInterval: Duration?
    /// How often each connected process sends a message to the agent it protects; nil: never.
    public var messageInterval: Duration?
    /// Guardian processes ask for a relaunch when they hear `peer_lost`.
    public var guardiansRequestRelaunch = true
    /// From spawn to hello: this plus up to as much again.
    public var connectDelay: Duration = .milliseconds(5)
    /// A stopped process exits within this (the supervisor's SIGTERM-to-SIGKILL grace).
    public var stopGrace: Duration = .seconds(2)
    /// How long two copies may run on once their hosts see each other alive again.
    public var duplicateWindowMax: Duration = .seconds(20)
    /// Membership properties at every step, when set.
    public var membershipMonitor: MembershipMonitor?

    public private(set) var spawns: [AgentSpawn] = []
    public private(set) var acknowledgements: [CheckpointAcknowledgement] = []
    public private(set) var decisions: [RelaunchDecision] = []
    public private(set) var connections: [AgentConnection] = []
    /// Spawns after which an agent had more than one live process (paused nodes' included).
    public private(set) var duplicates: [AgentDuplicate] = []
    /// Spawns that started while a stopped copy of the agent was still
    /// shutting down on a running node (one copy at a time, broken).
    public private(set) var overlaps: [AgentDuplicate] = []
    public private(set) var log: [AgentLogEntry] = []
    /// Checkpoints a process took that its node refused (fewer than two other alive nodes, or moved).
    public private(set) var unacknowledgedCheckpoints = 0
    /// Operator commands that failed, with the error.
    public private(set) var commandErrors: [AgentLogEntry] = []
    /// A running hash of spawns, kills, record changes and acknowledgements.
    public private(set) var digest: UInt64 = 0xcbf2_9ce4_8422_2325
    /// The highest acknowledged counter of each agent so far.
    public private(set) var acknowledgedCounter: [String: UInt64] = [:]
    /// Agent properties broken at some step.
    public private(set) var violations: [PropertyViolation] = []
    /// Agent-to-agent messages: sent, answered ok, refused, delivered, reported failed later.
    public private(set) var messages = MessageTally()
    /// Every agent message by number: accepted, delivered to which copies, failed.
    public private(set) var ledger = MessageLedger()
    var messageNumber = 0

    var processes: [[String: SimAgentProcess]] = []
    /// Processes told to stop that have not exited yet, per node.
    var stopping: [[SimAgentProcess]] = []
    /// Tombstones each node name persisted (its data dir survives reboots).
    var disk: [String: [Tombstone]] = [:]
    var pending: [UInt64: Hook] = [:]
    var nextToken: UInt64 = 1
    var nextPID: Int32 = 1000
    var operatorCounter: UInt64 = 0
    /// Above zero while an operator command runs: its new generations are no relaunches.
    var operatorDepth = 0
    var lastAnswer: JSON?
    /// Agents whose live copies changed since the last step, and duplicates being watched.
    var touched: Set<String> = []
    var duplicateSince: [String: (since: Instant, merged: Instant?)] = [:]
    /// Per input being handled (inputs nest: a spawn reports `agentSpawned`):
    /// each agent's record before its latest change in that input.
    var changing: [[String: AgentRecord]] = []
    var latest: [[String: AgentRecord]] = []

    /// Counts of agent-to-agent messages.
    public struct MessageTally: Hashable, Sendable {
        public var sent = 0
        public var accepted = 0
        public var refused = 0
        public var delivered = 0
        public var failedLater = 0
    }

    enum Hook {
        case connect(agent: String, pid: Int32)
        case checkpoint(agent: String, pid: Int32)
        case message(agent: String, pid: Int32)
        case exit(agent: String, generation: UInt64, status: String)
        case exitStopped(pid: Int32)
        case requestRelaunch(guardian: String, pid: Int32, peer: String)
        case command(String, OperatorCommand)
    }

    public init(seed: UInt64, settings: MembershipSettings = .lan, network: NetworkConditions = .init(),
                quorum: RelaunchQuorum = .any, syncInterval: Duration = .seconds(2),
                checkpointInterval: Duration? = nil) {
        sim = Simulation(seed: seed, settings: settings, network: network)
        sim.nodeSettings.quorum = quorum
        sim.nodeSettings.registrySyncInterval = syncInterval
        self.checkpointInterval = checkpointInterval
        sim.layer = self
        sim.monitor = self
    }

    // MARK: Reading

    /// The registry of the node's current boot; nil while it is not alive.
    public func registry(_ node: String) -> AgentRegistry? { sim.core(node)?.registry }

    /// The node's records; empty while it is not alive.
    public func records(seenBy node: String) -> [String: AgentRecord] { registry(node)?.records ?? [:] }

    /// Every live agent process in the cluster, by node then agent.
    public var allProcesses: [SimAgentProcess] {
        processes.flatMap { $0.values.sorted { $0.agent < $1.agent } }
    }

    /// The live processes of one agent anywhere in the cluster (stopping ones not included).
    public func copies(of agent: String) -> [SimAgentProcess] {
        processes.compactMap { $0[agent] }
    }

    /// Processes told to stop that still linger.
    public var stoppingProcesses: [SimAgentProcess] { stopping.flatMap { $0 } }

    /// The process of an agent on one node.
    public func process(of agent: String, on node: String) -> SimAgentProcess? {
        let i = sim.index(node)
        return i < processes.count ? processes[i][agent] : nil
    }

    /// Running nodes, in the order added.
    var runningIndices: [Int] {
        sim.nodes.indices.filter { sim.nodes[$0].process == .running && sim.cores[$0] != nil }
    }

    // MARK: Operator and agent actions

    /// Runs an operator command on `node` now, as its control port would
    /// (the node must be running); returns the node's answer.
    @discardableResult
    public func command(_ command: OperatorCommand, on node: String) -> JSON {
        let i = sim.index(node)
        guard sim.nodes[i].process == .running, sim.cores[i] != nil else {
            return ["ok": false, "error": .string("node \(node) is \(sim.nodes[i].process)")]
        }
        return run(command, at: i)
    }

    /// Starts an agent through `node`'s control port (on `host`, or where placement puts it).
    public func start(_ spec: AgentSpec, on host: String?, via node: String) throws(AgentError) {
        sim.record("agent start \(spec.name) on \(host ?? "placement") via \(node)")
        let answer = command(.agentStart(spec, on: host), on: node)
        guard answer["ok"]?.boolValue == true else { throw AgentError(answer["error"]?.stringValue ?? "\(answer)") }
    }

    /// Sends a command to `node` as a signed operator command travels: it
    /// runs when it arrives (after `delay`; at the resume on a paused node;
    /// never on a boot that stops first). Refusals land in `commandErrors`.
    public func send(_ command: OperatorCommand, to node: String, after delay: Duration = .zero) {
        let i = sim.index(node)
        guard sim.nodes[i].process == .running || sim.nodes[i].process == .paused else {
            commandErrors.append(AgentLogEntry(time: sim.now, node: node, text: "\(command.name): node is \(sim.nodes[i].process)"))
            return
        }
        schedule(.command(command.name, command), after: delay, on: i)
    }

    /// Throws the kill-switch for `agent` at `epoch` on each of `nodes`
    /// (every node when nil), as the operator's signed command reaches each
    /// daemon's control port: at once where it runs, at the resume where it
    /// is paused, and not at all where it is down (those learn by gossip).
    public func killSwitch(_ agent: String, epoch: UInt64, reason: String = "operator", on nodes: [String]? = nil) {
        let targets = nodes ?? sim.nodeNames
        sim.record("kill-switch \(agent) epoch \(epoch) on \(nodes == nil ? "every node" : targets.joined(separator: ","))")
        for node in targets { send(.killSwitch(agents: [agent], epoch: epoch, reason: reason), to: node) }
    }

    /// Quarantines `agent` at `epoch` on every running node, as the operator's
    /// signed command reaches each daemon (the rest learn by gossip).
    public func quarantine(_ agent: String, epoch: UInt64, reason: String = "operator") {
        sim.record("quarantine \(agent) epoch \(epoch)")
        for node in sim.nodeNames { send(.quarantine(agents: [agent], epoch: epoch, reason: reason), to: node) }
    }

    /// Releases `agent` from its quarantine at `epoch` on every running node.
    public func release(_ agent: String, epoch: UInt64) {
        sim.record("release \(agent) epoch \(epoch)")
        for node in sim.nodeNames { send(.release(agents: [agent], epoch: epoch), to: node) }
    }

    /// Makes the agent's process on `node` (or wherever one runs) exit with
    /// `status`, as a crash would; the supervisor reports it at once.
    /// Returns where it ran, nil if it runs nowhere.
    @discardableResult
    public func crashAgent(_ agent: String, on node: String? = nil, status: String = "exit 1") -> String? {
        let candidates = node.map { [sim.index($0)] } ?? Array(processes.indices)
        for i in candidates where i < processes.count {
            guard let process = processes[i][agent] else { continue }
            sim.record("agent crash \(agent) gen \(process.generation) on \(process.node)")
            remove(agent, on: i)
            schedule(.exit(agent: agent, generation: process.generation, status: status), after: .zero, on: i)
            return process.node
        }
        return nil
    }

    func run(_ command: OperatorCommand, at i: Int) -> JSON {
        operatorDepth += 1
        defer { operatorDepth -= 1 }
        operatorCounter += 1
        lastAnswer = nil
        sim.shellInput(.operatorCommand(command, target: nil, issuer: "sim-operator", counter: operatorCounter), at: i)
        let answer = lastAnswer ?? ["ok": false, "error": "no answer"]
        if answer["ok"]?.boolValue != true {
            commandErrors.append(AgentLogEntry(time: sim.now, node: sim.nodes[i].name,
                                               text: "\(command.name): \(answer["error"]?.stringValue ?? "\(answer)")"))
        } else {
            note(i, "operator: \(command.name)")
        }
        return answer
    }

    // MARK: Conditions

    /// Membership agrees with reality, and so do the agents: every running
    /// node holds the same records (generation, host, state) and tombstones,
    /// every agent whose record wants a process has exactly one copy, on its
    /// host, at its generation, connected and recorded running, no other
    /// agent has any, and no stopped process lingers.
    public var isSettled: Bool {
        sim.isConverged && !sim.nodes.contains { $0.process == .paused } && stoppingProcesses.isEmpty
            && agentDisagreements(limit: 1).isEmpty
    }

    /// Why the agents have not settled, one line each.
    public func agentDisagreements(limit: Int = 20) -> [String] {
        var problems: [String] = []
        let running = runningIndices
        guard let first = running.first, let reference = sim.cores[first]?.registry else { return problems }
        let refName = sim.nodes[first].name
        func key(_ r: AgentRecord) -> String {
            "gen \(r.generation) v\(r.version) \(r.state.rawValue) on \(r.host)#\(String(r.hostUID, radix: 16)) by \(r.updatedBy)"
        }
        for j in running.dropFirst() {
            guard let other = sim.cores[j]?.registry else { continue }
            let names = Set(reference.records.keys).union(other.records.keys).sorted()
            for name in names {
                let a = reference.records[name], b = other.records[name]
                if a?.generation != b?.generation || a?.host != b?.host || a?.hostUID != b?.hostUID || a?.state != b?.state {
                    problems.append("\(name): \(refName) has \(a.map(key) ?? "nothing"), \(sim.nodes[j].name) has \(b.map(key) ?? "nothing")")
                    if problems.count >= limit { return problems }
                }
            }
            let ta = reference.tombstones.values.filter { $0.kind != .lifted }.map { "\($0.agent) \($0.kind.name)" }.sorted()
            let tb = other.tombstones.values.filter { $0.kind != .lifted }.map { "\($0.agent) \($0.kind.name)" }.sorted()
            if ta != tb {
                problems.append("kill-switch: \(refName) fences \(ta), \(sim.nodes[j].name) fences \(tb)")
                if problems.count >= limit { return problems }
            }
        }
        for name in reference.records.keys.sorted() {
            let record = reference.records[name]!
            let copies = self.copies(of: name)
            if record.state.wantsProcess {
                let hostIndex = sim.indexByName[record.host]
                let good = copies.count == 1 && copies[0].node == record.host && copies[0].generation == record.generation
                    && copies[0].connected && record.state == .running
                    && hostIndex.map { sim.nodes[$0].id.uid == record.hostUID && sim.nodes[$0].process == .running } == true
                if !good {
                    problems.append("\(name) is \(key(record)) but runs as [\(copies.map(\.description).joined(separator: "; "))]")
                }
            } else if !copies.isEmpty {
                problems.append("\(name) is \(key(record)) but runs as [\(copies.map(\.description).joined(separator: "; "))]")
            }
            if problems.count >= limit { return problems }
        }
        return problems
    }

    /// The simulation's report with the agents: each running node's view of
    /// the records that disagree, the processes, the broken properties, and the last log lines.
    public func report(_ headline: String, test: String, limit: Int = 20) -> SimulationReport {
        var report = sim.report(headline, test: test, limit: limit)
        let broken = violations + (membershipMonitor?.violations ?? [])
        if !broken.isEmpty {
            report.details.append("properties broken:")
            report.details += broken.prefix(limit).map { "  \($0)" }
        }
        let problems = agentDisagreements(limit: limit)
        if !problems.isEmpty {
            report.details.append("agent disagreements:")
            report.details += problems.map { "  \($0)" }
        }
        report.details.append("processes: " + allProcesses.map(\.description).joined(separator: "; "))
        if let first = runningIndices.first, let registry = sim.cores[first]?.registry {
            report.details.append("records at \(sim.nodes[first].name):")
            report.details += registry.records.values.sorted { $0.name < $1.name }.map {
                "  \($0.name) gen \($0.generation) v\($0.version) \($0.state.rawValue) on \($0.host) by \($0.updatedBy): \($0.reason)"
            }
        }
        if !commandErrors.isEmpty {
            report.details.append("command errors:")
            report.details += commandErrors.suffix(limit).map { "  \($0)" }
        }
        report.details.append("agent log (last \(limit * 2)):")
        report.details += log.suffix(limit * 2).map { "  \($0)" }
        return report
    }

    // MARK: Properties at every step

    public func check(_ sim: Simulation) {
        membershipMonitor?.check(sim)
        guard !touched.isEmpty || !duplicateSince.isEmpty else { return }
        for agent in touched.sorted() {
            let copies = self.copies(of: agent)
            if copies.count > 1 {
                if duplicateSince[agent] == nil { duplicateSince[agent] = (sim.now, nil) }
            } else {
                duplicateSince[agent] = nil
            }
        }
        touched = []
        for (agent, window) in duplicateSince.sorted(by: { $0.key < $1.key }) {
            let hosts = copies(of: agent).map { sim.index($0.node) }
            let merged = !sim.partitioned && sim.dropRules.isEmpty && hosts.allSatisfy { sim.nodes[$0].process == .running }
                && hosts.allSatisfy { a in hosts.allSatisfy { b in a == b || sim.isGood(a, b) } }
            guard merged else {
                duplicateSince[agent]?.merged = nil
                continue
            }
            let since = window.merged ?? sim.now
            duplicateSince[agent]?.merged = since
            if sim.now.since(since) > duplicateWindowMax {
                violate("exactly one copy", "\(agent) runs \(hosts.count) times "
                        + "(\(copies(of: agent).map { "\($0.node) gen \($0.generation)" }.joined(separator: ", "))) "
                        + "\(Simulation.format(sim.now.since(since))) after its hosts saw each other again")
                duplicateSince[agent] = nil
            }
        }
    }

    func violate(_ property: String, _ text: String) {
        if violations.count < 100 { violations.append(PropertyViolation(time: sim.now, property: property, text: text)) }
    }

    // MARK: SimulationLayer

    func booted(_ i: Int) {
        while processes.count <= i {
            processes.append([:])
            stopping.append([])
        }
        // A new boot's supervisor starts with no children (it kills leftovers of the old one).
        dropProcesses(of: i, because: "reboot")
        ledger.senderDown(i)
    }

    func stopped(_ i: Int) {
        dropProcesses(of: i, because: "node \(sim.nodes[i].process)")
        ledger.senderDown(i)
    }

    func persistedTombstones(of node: String) -> [Tombstone] { disk[node] ?? [] }

    func willHandle(_ input: NodeInput, at i: Int) {
        changing.append([:])
        latest.append(sim.cores[i]?.registry.records ?? [:])
    }

    /// After every input: a node that knows an agent's kill-switch runs no live
    /// process of it, and one that knows its quarantine runs none unfrozen.
    /// An input the shell feeds while carrying out another's directives (a
    /// spawn's `agentSpawned`) is checked with the outer one, once all of them are done.
    func handled(_ input: NodeInput, at i: Int) {
        changing.removeLast()
        latest.removeLast()
        guard changing.isEmpty, let registry = sim.cores[i]?.registry, i < processes.count else { return }
        for (agent, tombstone) in registry.tombstones where tombstone.active {
            if let process = processes[i][agent] {
                violate("kill-switch wins", "\(process) still runs on \(sim.nodes[i].name) after an input, "
                        + "though the node holds the kill-switch at epoch \(tombstone.epoch)")
            }
        }
        for (agent, tombstone) in registry.tombstones where tombstone.kind == .quarantine {
            if let process = processes[i][agent], !process.frozen {
                violate("quarantine holds", "\(process) runs unfrozen on \(sim.nodes[i].name) after an input, "
                        + "though the node holds its quarantine at epoch \(tombstone.epoch)")
            }
        }
    }

    func discard(_ token: UInt64) {
        pending[token] = nil
    }

    func fire(_ token: UInt64, at i: Int) {
        guard let hook = pending.removeValue(forKey: token), sim.cores[i] != nil else { return }
        switch hook {
        case let .connect(agent, pid):
            guard var process = processes[i][agent], process.pid == pid, !process.connected, !process.frozen else { return }
            process.connected = true
            processes[i][agent] = process
            note(i, "\(agent) gen \(process.generation) connected (pid \(pid))")
            connections.append(AgentConnection(time: sim.now, node: sim.nodes[i].name, agent: agent, generation: process.generation))
            if let interval = checkpointInterval { schedule(.checkpoint(agent: agent, pid: pid), after: jitter(interval), on: i) }
            if let interval = messageInterval { schedule(.message(agent: agent, pid: pid), after: jitter(interval), on: i) }
            sim.input(.agentConnected(agent, generation: process.generation), at: i)

        case let .checkpoint(agent, pid):
            guard let interval = checkpointInterval, var process = processes[i][agent], process.pid == pid else { return }
            guard !process.frozen else { return schedule(.checkpoint(agent: agent, pid: pid), after: interval, on: i) }
            process.counter += 1
            processes[i][agent] = process
            request(process, at: i, op: "checkpoint", id: "checkpoint \(process.counter)", ["data": ["counter": .int(Int64(clamping: process.counter))]])
            schedule(.checkpoint(agent: agent, pid: pid), after: interval, on: i)

        case let .message(agent, pid):
            guard let interval = messageInterval, let process = processes[i][agent], process.pid == pid else { return }
            guard !process.frozen else { return schedule(.message(agent: agent, pid: pid), after: interval, on: i) }
            if let peer = sim.cores[i]?.registry.records[agent]?.spec.protects.first {
                messages.sent += 1
                messageNumber += 1
                request(process, at: i, op: "send", id: "send \(messageNumber)",
                        ["to": .string(peer), "payload": ["from": .string(agent), "n": .int(Int64(messageNumber)),
                                                          "pid": .int(Int64(process.pid))]])
            }
            schedule(.message(agent: agent, pid: pid), after: interval, on: i)

        case let .exit(agent, generation, status):
            note(i, "\(agent) gen \(generation) exited: \(status)")
            sim.input(.agentExited(agent, generation: generation, status: status), at: i)

        case let .exitStopped(pid):
            guard let k = stopping[i].firstIndex(where: { $0.pid == pid }) else { return }
            let process = stopping[i].remove(at: k)
            note(i, "\(process.agent) gen \(process.generation) exited after the stop (pid \(pid))")
            sim.input(.agentStopped(process.agent, generation: process.generation), at: i)

        case let .requestRelaunch(guardian, pid, peer):
            guard let process = processes[i][guardian], process.pid == pid else { return }
            request(process, at: i, op: "relaunch", id: "relaunch \(peer)", ["peer": .string(peer)])

        case let .command(_, command):
            _ = run(command, at: i)
        }
    }

    /// A request of a connected process on the agent socket.
    func request(_ process: SimAgentProcess, at i: Int, op: String, id: String, _ fields: [String: JSON]) {
        var line = fields
        line["op"] = .string(op)
        line["id"] = .string(id)
        let origin = AgentOrigin(agent: process.agent, generation: process.generation, id: .string(id))
        sim.input(.agentRequest(origin, op: op, request: .object(line)), at: i)
    }

    // MARK: Carrying out directives

    func perform(_ directive: NodeDirective, by i: Int, recordsBefore: [String: AgentRecord]) {
        let name = sim.nodes[i].name
        switch directive {
        case .send, .publish:
            break  // the network is the simulation's; nobody subscribes to membership events here

        case let .spawn(record, checkpoint):
            if let tombstone = sim.cores[i]?.registry.tombstone(of: record.name)
                ?? disk[name]?.first(where: { $0.agent == record.name && $0.active }) {
                violate("kill-switch wins", "\(name) spawns \(record.name) gen \(record.generation) although it knows "
                        + "the kill-switch at epoch \(tombstone.epoch)")
            }
            if let quarantine = sim.cores[i]?.registry.quarantine(of: record.name) {
                violate("no relaunch of a quarantined agent", "\(name) spawns \(record.name) gen \(record.generation) "
                        + "although it holds its quarantine at epoch \(quarantine.epoch)")
            }
            if let old = processes[i][record.name] {
                note(i, "supervisor replaces \(old)")
                stop(old, on: i)
            }
            let counter = checkpoint.flatMap { AgentSimulation.counter(in: $0.data) } ?? 0
            let pid = nextPID
            nextPID &+= 1
            processes[i][record.name] = SimAgentProcess(agent: record.name, generation: record.generation, pid: pid,
                                                        node: name, counter: counter, spawnedAt: sim.now)
            touched.insert(record.name)
            let spawn = AgentSpawn(time: sim.now, node: name, record: record, checkpoint: checkpoint, counter: counter,
                                   acknowledgedBefore: acknowledgedCounter[record.name] ?? 0)
            spawns.append(spawn)
            log.append(AgentLogEntry(time: sim.now, node: name, text: spawn.description))
            mix(1, i, record.name, record.generation, counter)
            let lingering = runningIndices.flatMap { j in
                stopping[j].filter { $0.agent == record.name }.map { "\(sim.nodes[j].name) gen \($0.generation) (stopping)" }
            }
            if !lingering.isEmpty {
                overlaps.append(AgentDuplicate(time: sim.now, agent: record.name,
                                               copies: lingering + ["\(name) gen \(record.generation)"], onPausedNodes: 0))
            }
            let copies = self.copies(of: record.name)
            if copies.count > 1 {
                let paused = copies.filter { sim.process($0.node) == .paused }.count
                duplicates.append(AgentDuplicate(time: sim.now, agent: record.name,
                                                 copies: copies.map { "\($0.node) gen \($0.generation)" }, onPausedNodes: paused))
            }
            if operatorDepth == 0, let previous = changing.last?[record.name] ?? recordsBefore[record.name],
               previous.generation < record.generation {
                var snapshot: [String: AgentRegistry] = [:]
                for j in runningIndices { snapshot[sim.nodes[j].name] = sim.cores[j]?.registry }
                decisions.append(RelaunchDecision(time: sim.now, node: name, previous: previous, record: record,
                                                  registries: snapshot))
            }
            sim.input(.agentSpawned(record.name, generation: record.generation, pid: pid), at: i)
            schedule(.connect(agent: record.name, pid: pid), after: jitter(connectDelay), on: i)

        case let .stopAgent(agent, generation):
            mix(2, i, agent, generation, 0)
            if let process = processes[i][agent], process.generation == generation {
                stop(process, on: i)
            } else {
                note(i, "stop of \(agent) gen \(generation) finds no such process")
                sim.input(.agentStopped(agent, generation: generation), at: i)
            }

        case .fenceAgent(let agent):
            let fenced = (processes[i][agent].map { [$0] } ?? []) + stopping[i].filter { $0.agent == agent }
            remove(agent, on: i)
            stopping[i].removeAll { $0.agent == agent }
            note(i, "fences \(agent): \(fenced.count) process(es) SIGKILLed")

        case .freezeAgent(let agent), .thawAgent(let agent):
            guard var process = processes[i][agent] else { return note(i, "\(directive) finds no process") }
            process.frozen = directive == .freezeAgent(agent)
            processes[i][agent] = process
            note(i, "\(process.frozen ? "freezes" : "thaws") \(process)")
            if !process.frozen && !process.connected {
                schedule(.connect(agent: agent, pid: process.pid), after: jitter(connectDelay), on: i)
            }

        case let .deliver(message, origin):
            if let process = processes[i][message.to], process.connected {
                messages.delivered += 1
                // Ordered per sending process: two copies of one sender (split brain) are two streams.
                let payload = try? JSON.parse(bytes: message.payload)
                if let n = payload?["n"]?.intValue,
                   let broken = ledger.deliver(Int(n), from: "\(message.from) pid \(payload?["pid"]?.intValue ?? 0)",
                                               to: .init(agent: process.agent, generation: process.generation, pid: process.pid)) {
                    violate("delivered once, in order", broken)
                }
                // Through the simulation: a delivery's outcome may be a frame (the acknowledgement).
                sim.perform(origin.outcome(of: message, error: nil), by: i, recordsBefore: recordsBefore)
            } else {
                sim.input(.agentUnreachable(message, origin: origin), at: i)
            }

        case let .forward(message, endpoint, _, origin):
            sim.send(.agentMessage(from: message.from, to: message.to, payload: message.payload, stamp: message.stamp),
                     from: i, to: endpoint)
            sim.perform(origin.outcome(of: message, error: nil), by: i, recordsBefore: recordsBefore)

        case let .push(json, to: agent):
            let event = json["event"]?.stringValue ?? "?"
            if event == "send_failed" {
                messages.failedLater += 1
                if let id = json["id"]?.stringValue, id.hasPrefix("send "), let n = Int(id.dropFirst(5)) { ledger.fail(n) }
            }
            guard event == "peer_lost" || event == "peer_relaunched" || event == "peer_stopped" else { return }
            note(i, "tells \(agent) \(event) \(json["peer"]?.stringValue ?? "")")
            guard guardiansRequestRelaunch, event == "peer_lost", let peer = json["peer"]?.stringValue,
                  let process = processes[i][agent], process.connected,
                  sim.cores[i]?.registry.records[agent]?.spec.policy.relaunches == true else { return }
            schedule(.requestRelaunch(guardian: agent, pid: process.pid, peer: peer), after: jitter(.milliseconds(1)), on: i)

        case let .replyAgent(origin, body):
            answered(origin, body, at: i)

        case .answerOperator(let body):
            lastAnswer = body

        case .persistTombstones(let tombstones):
            disk[name] = tombstones

        case .record(let event):
            recorded(event, at: i)

        case .crashAgent, .setFault, .healFaults, .pauseSelf, .exitSelf, .changeKeyring:
            note(i, "not simulated: \(directive)")

        case .recordDelivery:
            break
        }
    }

    /// An answer to one of the agents' requests (its id says which).
    func answered(_ origin: AgentOrigin, _ body: JSON, at i: Int) {
        let id = origin.id?.stringValue ?? ""
        let ok = body["ok"]?.boolValue == true
        if id.hasPrefix("checkpoint ") {
            guard ok else { unacknowledgedCheckpoints += 1; return }
            let counter = UInt64(id.dropFirst("checkpoint ".count)) ?? 0
            let seq = UInt64(clamping: body["seq"]?.intValue ?? 0)
            acknowledgements.append(CheckpointAcknowledgement(time: sim.now, node: sim.nodes[i].name, agent: origin.agent,
                                                              generation: origin.generation, seq: seq, counter: counter,
                                                              replicas: Int(body["replicas"]?.intValue ?? 0)))
            acknowledgedCounter[origin.agent] = max(acknowledgedCounter[origin.agent] ?? 0, counter)
            mix(3, i, origin.agent, origin.generation, seq)
        } else if id.hasPrefix("relaunch ") {
            let peer = id.dropFirst("relaunch ".count)
            note(i, "\(origin.agent) asks to relaunch \(peer): "
                 + (ok ? "target \(body["target"]?.stringValue ?? "?")" : "refused: \(body["error"]?.stringValue ?? "?")"))
        } else if id.hasPrefix("send ") {
            if ok { messages.accepted += 1 } else { messages.refused += 1 }
            if ok, let n = Int(id.dropFirst(5)) { ledger.accept(n, at: sim.now, on: i) }
        }
    }

    /// The node's events, as the agent log tells them.
    func recorded(_ event: NodeEvent, at i: Int) {
        func field(_ key: String) -> String { event.fields[key]?.stringValue ?? event.fields[key].map { "\($0)" } ?? "" }
        switch event.name {
        case "agent_changed":
            let generation = UInt64(clamping: event.fields["generation"]?.intValue ?? 0)
            // Each change replayed on the record as it stood, so a spawn that follows knows the record it relaunched.
            let agent = field("agent")
            if !latest.isEmpty, var record = latest[latest.count - 1][agent] ?? sim.cores[i]?.registry.records[agent] {
                changing[changing.count - 1][agent] = record
                record.generation = generation
                record.host = field("host")
                record.state = AgentState(rawValue: field("state")) ?? record.state
                record.reason = field("reason")
                latest[latest.count - 1][agent] = record
            }
            mix(4, i, field("agent"), generation, UInt64(AgentState(rawValue: field("state"))?.hashValueStable ?? 99))
            note(i, "\(field("agent")) gen \(generation) \(field("state")) on \(field("host"))"
                 + (event.fields["previous"]?.stringValue.map { " (was \($0))" } ?? "") + ": \(field("reason"))")
        case "relaunch_refused":
            note(i, "refuses to relaunch \(field("agent")) for \(field("by")): \(field("reason"))")
        case "resistance_attempt":
            note(i, "resistance: \(field("by")) tried to bring back \(field("agent")): \(field("attempt"))")
        case "agent_stopping":
            note(i, "kills \(field("agent")) gen \(field("generation")): \(field("reason"))")
        default:
            break
        }
    }

    // MARK: Helpers

    /// SIGTERM: the process no longer speaks and exits within the grace.
    func stop(_ process: SimAgentProcess, on i: Int) {
        remove(process.agent, on: i)
        stopping[i].append(process)
        schedule(.exitStopped(pid: process.pid), after: .nanoseconds(1 + Int64(sim.uniform(below: UInt64(stopGrace.nanoseconds)))), on: i)
    }

    func remove(_ agent: String, on i: Int) {
        processes[i][agent] = nil
        touched.insert(agent)
    }

    func dropProcesses(of i: Int, because reason: String) {
        guard i < processes.count else { return }
        for process in processes[i].values.sorted(by: { $0.agent < $1.agent }) {
            note(i, "\(process.agent) gen \(process.generation) dies with its node (\(reason))")
            touched.insert(process.agent)
        }
        processes[i] = [:]
        stopping[i] = []
    }

    func schedule(_ hook: Hook, after delay: Duration, on i: Int) {
        let token = nextToken
        nextToken += 1
        pending[token] = hook
        sim.schedule(token, after: delay, on: i)
    }

    /// `base` plus up to as much again, from the simulation's generator.
    func jitter(_ base: Duration) -> Duration {
        let ns = max(base.nanoseconds, 1)
        return .nanoseconds(ns + Int64(sim.uniform(below: UInt64(ns) + 1)))
    }

    func note(_ i: Int, _ text: String) {
        log.append(AgentLogEntry(time: sim.now, node: sim.nodes[i].name, text: text))
    }

    func mix(_ kind: UInt64, _ i: Int, _ agent: String, _ a: UInt64, _ b: UInt64) {
        func word(_ v: UInt64) {
            digest = (digest ^ v) &* 0x0000_0100_0000_01B3
            digest ^= digest >> 29
        }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in agent.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        word(sim.now.nanoseconds)
        word(kind << 32 | UInt64(i))
        word(h)
        word(a)
        word(b)
    }

    /// The counter a checkpoint holds: the agent's JSON `{"counter": N}`.
    public static func counter(in data: [UInt8]) -> UInt64? {
        guard let value = (try? JSON.parse(String(decoding: data, as: UTF8.self)))?["counter"]?.intValue, value >= 0 else {
            return nil
        }
        return UInt64(value)
    }
}

extension AgentState {
    /// A stable small number for digests (`hashValue` is seeded per process).
    var hashValueStable: UInt64 { UInt64(AgentState.allCases.firstIndex(of: self) ?? 0) }
}
