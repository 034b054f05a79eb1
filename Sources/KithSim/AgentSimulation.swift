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

    public var description: String {
        "\(agent)@\(node) gen \(generation) pid \(pid)\(connected ? "" : " (starting)") counter \(counter)"
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

/// The agent registry on every simulated node, with a model of the
/// processes it supervises.
///
/// Each boot of a node gets a fresh `AgentRegistry` next to its
/// `Membership` (restoring the tombstones its earlier boots persisted), fed
/// `updateView` whenever its membership table changes; agent messages
/// travel the same fake network (kind `other`), and its timer is the
/// node's timer. Processes:
/// - `.spawn` → the node holds a process for (agent, generation), replacing
///   any older one of that name, and reports `spawned` at once and
///   `connected` after `connectDelay` (plus up to as much again);
/// - `.kill` → the process of that generation is gone;
/// - a crash, power-off or reboot of the node takes all its processes; a
///   pause freezes them (their hellos and checkpoints wait for the resume).
/// A connected process checkpoints its counter every `checkpointInterval`
/// (if set); a guardian process that hears `peer_lost` asks for a
/// relaunch if its policy says so (as the reference agent does).
///
/// Everything random comes from the simulation's generator, so a seed
/// replays the same agent history too (`digest`).
public final class AgentSimulation: SimulationLayer {
    public let sim: Simulation
    public let quorum: RelaunchQuorum
    public let syncInterval: Duration
    /// How often each connected process checkpoints; nil: never (set it to
    /// nil to let the cluster quiesce).
    public var checkpointInterval: Duration?
    /// Guardian processes ask for a relaunch when they hear `peer_lost`.
    public var guardiansRequestRelaunch = true
    /// From spawn to hello: this plus up to as much again.
    public var connectDelay: Duration = .milliseconds(5)

    public private(set) var spawns: [AgentSpawn] = []
    public private(set) var acknowledgements: [CheckpointAcknowledgement] = []
    public private(set) var decisions: [RelaunchDecision] = []
    public private(set) var connections: [AgentConnection] = []
    /// Spawns after which an agent had more than one process (paused nodes' included).
    public private(set) var duplicates: [AgentDuplicate] = []
    public private(set) var log: [AgentLogEntry] = []
    /// Checkpoints a process took that its registry refused (fewer than two other alive nodes, or moved).
    public private(set) var unacknowledgedCheckpoints = 0
    /// Operator commands that failed, with the error.
    public private(set) var commandErrors: [AgentLogEntry] = []
    /// A running hash of spawns, kills, record changes and acknowledgements.
    public private(set) var digest: UInt64 = 0xcbf2_9ce4_8422_2325
    /// The highest acknowledged counter of each agent so far.
    public private(set) var acknowledgedCounter: [String: UInt64] = [:]

    var registries: [AgentRegistry?] = []
    var processes: [[String: SimAgentProcess]] = []
    /// Tombstones each node name persisted (its data dir survives reboots).
    var disk: [String: [Tombstone]] = [:]
    var pending: [UInt64: Hook] = [:]
    var nextToken: UInt64 = 1
    var nextPID: Int32 = 1000
    /// (node, agent, seq) → (generation, counter) of checkpoints waiting for acks.
    var waiting: [CheckpointKey: (generation: UInt64, counter: UInt64)] = [:]
    /// Above zero while an operator command runs: its new generations are no relaunches.
    var operatorDepth = 0

    struct CheckpointKey: Hashable {
        var node: Int
        var agent: String
        var seq: UInt64
    }

    enum Hook {
        case connect(agent: String, pid: Int32)
        case checkpoint(agent: String, pid: Int32)
        case exit(agent: String, generation: UInt64, status: String)
        case requestRelaunch(guardian: String, pid: Int32, peer: String)
        case command(String, (inout AgentRegistry, Instant) throws(AgentError) -> [AgentDirective])
    }

    public init(seed: UInt64, settings: MembershipSettings = .lan, network: NetworkConditions = .init(),
                quorum: RelaunchQuorum = .any, syncInterval: Duration = .seconds(2),
                checkpointInterval: Duration? = nil) {
        sim = Simulation(seed: seed, settings: settings, network: network)
        self.quorum = quorum
        self.syncInterval = syncInterval
        self.checkpointInterval = checkpointInterval
        sim.layer = self
    }

    // MARK: Reading

    /// The registry of the node's current boot; nil while it is not alive.
    public func registry(_ node: String) -> AgentRegistry? {
        let i = sim.index(node)
        return i < registries.count ? registries[i] : nil
    }

    /// The node's records; empty while it is not alive.
    public func records(seenBy node: String) -> [String: AgentRecord] { registry(node)?.records ?? [:] }

    /// Every agent process in the cluster, by node then agent.
    public var allProcesses: [SimAgentProcess] {
        processes.flatMap { $0.values.sorted { $0.agent < $1.agent } }
    }

    /// The processes of one agent anywhere in the cluster.
    public func copies(of agent: String) -> [SimAgentProcess] {
        processes.compactMap { $0[agent] }
    }

    /// The process of an agent on one node.
    public func process(of agent: String, on node: String) -> SimAgentProcess? {
        let i = sim.index(node)
        return i < processes.count ? processes[i][agent] : nil
    }

    /// Running nodes, in the order added.
    var runningIndices: [Int] {
        sim.nodes.indices.filter { sim.nodes[$0].process == .running && $0 < registries.count && registries[$0] != nil }
    }

    // MARK: Operator and agent actions

    /// Runs an operator command on `node`'s registry now (the node must be
    /// running) and carries out its directives.
    @discardableResult
    public func operate(on node: String, _ body: (inout AgentRegistry, Instant) throws(AgentError) -> [AgentDirective])
        throws(AgentError) -> [AgentDirective] {
        let i = sim.index(node)
        guard sim.nodes[i].process == .running, i < registries.count, registries[i] != nil else {
            throw AgentError("node \(node) is \(sim.nodes[i].process)")
        }
        operatorDepth += 1
        defer { operatorDepth -= 1 }
        let directives = try body(&registries[i]!, sim.now)
        perform(directives, on: i)
        sim.rearm(i)
        return directives
    }

    /// Starts an agent through `node`'s control port (on `host`, or where placement puts it).
    public func start(_ spec: AgentSpec, on host: String?, via node: String) throws(AgentError) {
        sim.record("agent start \(spec.name) on \(host ?? "placement") via \(node)")
        try operate(on: node) { (registry, now) throws(AgentError) in try registry.start(spec, on: host, now: now) }
    }

    /// Sends a command to `node` as a signed operator command travels: it
    /// runs when it arrives (after `delay`; at the resume on a paused node;
    /// never on a boot that stops first). Errors land in `commandErrors`.
    public func send(_ label: String, to node: String, after delay: Duration = .zero,
                     _ body: @escaping (inout AgentRegistry, Instant) throws(AgentError) -> [AgentDirective]) {
        let i = sim.index(node)
        guard sim.nodes[i].process == .running || sim.nodes[i].process == .paused else {
            commandErrors.append(AgentLogEntry(time: sim.now, node: node, text: "\(label): node is \(sim.nodes[i].process)"))
            return
        }
        schedule(.command(label, body), after: delay, on: i)
    }

    /// Throws the kill-switch for `agent` at `epoch` on each of `nodes`
    /// (every node when nil), as the operator's signed command reaches each
    /// daemon's control port: at once where it runs, at the resume where it
    /// is paused, and not at all where it is down (those learn by gossip).
    public func killSwitch(_ agent: String, epoch: UInt64, reason: String = "operator", on nodes: [String]? = nil) {
        let targets = nodes ?? sim.nodeNames
        sim.record("kill-switch \(agent) epoch \(epoch) on \(nodes == nil ? "every node" : targets.joined(separator: ","))")
        for node in targets {
            send("kill-switch \(agent)", to: node) { (registry, now) throws(AgentError) in
                try registry.killSwitch(agent, epoch: epoch, reason: reason, issuedBy: "sim-operator", now: now)
            }
        }
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
            processes[i][agent] = nil
            schedule(.exit(agent: agent, generation: process.generation, status: status), after: .zero, on: i)
            return process.node
        }
        return nil
    }

    // MARK: Conditions

    /// Membership agrees with reality, and so do the agents: every running
    /// node holds the same records (generation, host, state) and tombstones,
    /// every agent whose record wants a process has exactly one copy, on its
    /// host, at its generation, connected and recorded running, and no other
    /// agent has any.
    public var isSettled: Bool {
        sim.isConverged && !sim.nodes.contains { $0.process == .paused } && agentDisagreements(limit: 1).isEmpty
    }

    /// Why the agents have not settled, one line each.
    public func agentDisagreements(limit: Int = 20) -> [String] {
        var problems: [String] = []
        let running = runningIndices
        guard let first = running.first, let reference = registries[first] else { return problems }
        let refName = sim.nodes[first].name
        func key(_ r: AgentRecord) -> String {
            "gen \(r.generation) v\(r.version) \(r.state.rawValue) on \(r.host)#\(String(r.hostUID, radix: 16)) by \(r.updatedBy)"
        }
        for j in running.dropFirst() {
            guard let other = registries[j] else { continue }
            let names = Set(reference.records.keys).union(other.records.keys).sorted()
            for name in names {
                let a = reference.records[name], b = other.records[name]
                if a?.generation != b?.generation || a?.host != b?.host || a?.hostUID != b?.hostUID || a?.state != b?.state {
                    problems.append("\(name): \(refName) has \(a.map(key) ?? "nothing"), \(sim.nodes[j].name) has \(b.map(key) ?? "nothing")")
                    if problems.count >= limit { return problems }
                }
            }
            let ta = reference.tombstones.values.filter(\.active).map(\.agent).sorted()
            let tb = other.tombstones.values.filter(\.active).map(\.agent).sorted()
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
    /// the records that disagree, the processes, and the last log lines.
    public func report(_ headline: String, test: String, limit: Int = 20) -> SimulationReport {
        var report = sim.report(headline, test: test, limit: limit)
        let problems = agentDisagreements(limit: limit)
        if !problems.isEmpty {
            report.details.append("agent disagreements:")
            report.details += problems.map { "  \($0)" }
        }
        report.details.append("processes: " + allProcesses.map(\.description).joined(separator: "; "))
        if let first = runningIndices.first, let registry = registries[first] {
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

    // MARK: SimulationLayer

    func booted(_ i: Int) {
        while registries.count <= i {
            registries.append(nil)
            processes.append([:])
        }
        let node = sim.nodes[i]
        // A new boot's supervisor starts with no children (it kills leftovers of the old one).
        dropProcesses(of: i, because: "reboot")
        var registry = AgentRegistry(me: node.id, quorum: quorum, syncInterval: syncInterval,
                                     authorizer: TagAuthorizer(), randomSeed: sim.rng.next(), now: sim.now)
        registry.restore(tombstones: disk[node.name] ?? [])
        registries[i] = registry
        perform(registries[i]!.updateView(sim.cores[i]!.members, now: sim.now), on: i)
    }

    func stopped(_ i: Int) {
        guard i < registries.count else { return }
        registries[i] = nil
        dropProcesses(of: i, because: "node \(sim.nodes[i].process)")
    }

    func viewChanged(_ i: Int) {
        guard i < registries.count, registries[i] != nil, let core = sim.cores[i] else { return }
        perform(registries[i]!.updateView(core.members, now: sim.now), on: i)
    }

    func receive(_ message: Message, at i: Int) -> Bool {
        switch message {
        case .agents, .checkpoint, .checkpointAck, .relaunchRequest, .tombstones:
            guard i < registries.count, registries[i] != nil else { return true }
            perform(registries[i]!.receive(message, now: sim.now), on: i)
            return true
        case .agentMessage:
            return true
        case .ping, .pingReq, .ack, .nack, .pushPull:
            return false
        }
    }

    func tick(_ i: Int) {
        guard i < registries.count, registries[i] != nil else { return }
        perform(registries[i]!.tick(now: sim.now), on: i)
        if let next = registries[i]?.nextDeadline, next <= sim.now {
            sim.anomaly("\(sim.nodes[i].id) registry nextDeadline \(next) did not advance past tick at \(sim.now)")
        }
    }

    func nextDeadline(_ i: Int) -> Instant? {
        i < registries.count ? registries[i]?.nextDeadline : nil
    }

    func discard(_ token: UInt64) {
        pending[token] = nil
    }

    func fire(_ token: UInt64, at i: Int) {
        guard let hook = pending.removeValue(forKey: token), i < registries.count, registries[i] != nil else { return }
        let now = sim.now
        switch hook {
        case let .connect(agent, pid):
            guard var process = processes[i][agent], process.pid == pid, !process.connected else { return }
            process.connected = true
            processes[i][agent] = process
            note(i, "\(agent) gen \(process.generation) connected (pid \(pid))")
            connections.append(AgentConnection(time: now, node: sim.nodes[i].name, agent: agent, generation: process.generation))
            perform(registries[i]!.connected(agent, generation: process.generation, now: now), on: i)
            if let interval = checkpointInterval {
                schedule(.checkpoint(agent: agent, pid: pid), after: jitter(interval), on: i)
            }

        case let .checkpoint(agent, pid):
            guard let interval = checkpointInterval, var process = processes[i][agent], process.pid == pid else { return }
            process.counter += 1
            processes[i][agent] = process
            do throws(AgentError) {
                let directives = try registries[i]!.checkpoint(agent, data: AgentSimulation.encode(process.counter), now: now)
                if let seq = registries[i]!.checkpoints[agent]?.seq {
                    waiting[CheckpointKey(node: i, agent: agent, seq: seq)] = (process.generation, process.counter)
                }
                perform(directives, on: i)
            } catch {
                unacknowledgedCheckpoints += 1
            }
            schedule(.checkpoint(agent: agent, pid: pid), after: interval, on: i)

        case let .exit(agent, generation, status):
            note(i, "\(agent) gen \(generation) exited: \(status)")
            perform(registries[i]!.exited(agent, generation: generation, status: status, now: now), on: i)

        case let .requestRelaunch(guardian, pid, peer):
            guard processes[i][guardian]?.pid == pid else { return }
            let (result, directives) = registries[i]!.requestRelaunch(of: peer, by: guardian, now: now)
            switch result {
            case .success(let target): note(i, "\(guardian) asks to relaunch \(peer): target \(target)")
            case .failure(let error): note(i, "\(guardian) asks to relaunch \(peer): refused: \(error)")
            }
            perform(directives, on: i)

        case let .command(label, body):
            operatorDepth += 1
            defer { operatorDepth -= 1 }
            do throws(AgentError) {
                let directives = try body(&registries[i]!, now)
                note(i, "operator: \(label)")
                perform(directives, on: i)
            } catch {
                commandErrors.append(AgentLogEntry(time: now, node: sim.nodes[i].name, text: "\(label): \(error)"))
            }
        }
    }

    // MARK: Carrying out directives

    func perform(_ directives: [AgentDirective], on i: Int) {
        let name = sim.nodes[i].name
        for directive in directives {
            switch directive {
            case let .send(message, to: endpoint):
                sim.send(message, from: i, to: endpoint)

            case let .spawn(record, checkpoint):
                if let old = processes[i][record.name] {
                    note(i, "supervisor replaces \(old)")
                }
                let counter = checkpoint.flatMap { AgentSimulation.decode($0.data) } ?? 0
                let pid = nextPID
                nextPID &+= 1
                processes[i][record.name] = SimAgentProcess(agent: record.name, generation: record.generation, pid: pid,
                                                            node: name, counter: counter, spawnedAt: sim.now)
                let spawn = AgentSpawn(time: sim.now, node: name, record: record, checkpoint: checkpoint, counter: counter,
                                       acknowledgedBefore: acknowledgedCounter[record.name] ?? 0)
                spawns.append(spawn)
                log.append(AgentLogEntry(time: sim.now, node: name, text: spawn.description))
                mix(1, i, record.name, record.generation, counter)
                let copies = self.copies(of: record.name)
                if copies.count > 1 {
                    let paused = copies.filter { sim.process($0.node) == .paused }.count
                    duplicates.append(AgentDuplicate(time: sim.now, agent: record.name,
                                                     copies: copies.map { "\($0.node) gen \($0.generation)" },
                                                     onPausedNodes: paused))
                }
                registries[i]!.spawned(record.name, generation: record.generation, pid: pid)
                schedule(.connect(agent: record.name, pid: pid), after: jitter(connectDelay), on: i)

            case let .kill(agent, generation, reason):
                mix(2, i, agent, generation, 0)
                if let process = processes[i][agent], process.generation == generation {
                    processes[i][agent] = nil
                    note(i, "kills \(agent) gen \(generation): \(reason)")
                } else {
                    note(i, "kill of \(agent) gen \(generation) finds no such process: \(reason)")
                }

            case let .notify(guardians, event):
                note(i, "tells \(guardians.joined(separator: ",")) \(event)")
                guard guardiansRequestRelaunch, case let .peerLost(peer, _, _, _) = event else { continue }
                for guardian in guardians {
                    guard let process = processes[i][guardian], process.connected,
                          registries[i]!.records[guardian]?.spec.policy.relaunches == true else { continue }
                    schedule(.requestRelaunch(guardian: guardian, pid: process.pid, peer: peer), after: jitter(.milliseconds(1)), on: i)
                }

            case let .checkpointAcknowledged(agent, seq, replicas):
                let key = CheckpointKey(node: i, agent: agent, seq: seq)
                guard let (generation, counter) = waiting.removeValue(forKey: key) else {
                    note(i, "acknowledgement of \(agent) seq \(seq) that no process took")
                    continue
                }
                acknowledgements.append(CheckpointAcknowledgement(time: sim.now, node: name, agent: agent, generation: generation,
                                                                  seq: seq, counter: counter, replicas: replicas))
                acknowledgedCounter[agent] = max(acknowledgedCounter[agent] ?? 0, counter)
                mix(3, i, agent, generation, seq)

            case let .changed(record, previous):
                mix(4, i, record.name, record.generation, UInt64(record.state.hashValueStable) << 32 | record.version)
                if previous?.state != record.state || previous?.generation != record.generation || previous?.host != record.host {
                    note(i, "\(record.name) gen \(record.generation) \(record.state.rawValue) on \(record.host)"
                         + (previous.map { " (was gen \($0.generation) \($0.state.rawValue) on \($0.host))" } ?? "")
                         + ": \(record.reason)")
                }
                if operatorDepth == 0, let previous, previous.generation < record.generation,
                   record.host == name, record.hostUID == sim.nodes[i].id.uid {
                    var snapshot: [String: AgentRegistry] = [:]
                    for j in runningIndices { snapshot[sim.nodes[j].name] = registries[j] }
                    decisions.append(RelaunchDecision(time: sim.now, node: name, previous: previous, record: record,
                                                      registries: snapshot))
                }

            case let .relaunchRefused(agent, by, reason):
                note(i, "refuses to relaunch \(agent) for \(by): \(reason)")

            case let .resistance(agent, by, attempt):
                note(i, "resistance: \(by) tried to bring back \(agent): \(attempt)")

            case let .tombstonesChanged(tombstones):
                disk[name] = tombstones

            case let .forgedRefused(what, agent, from, reason):
                note(i, "refuses a forged \(what) of \(agent) from \(from): \(reason)")
            }
        }
    }

    // MARK: Helpers

    func dropProcesses(of i: Int, because reason: String) {
        guard i < processes.count, !processes[i].isEmpty else { return }
        for process in processes[i].values.sorted(by: { $0.agent < $1.agent }) {
            note(i, "\(process.agent) gen \(process.generation) dies with its node (\(reason))")
        }
        processes[i] = [:]
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

    /// A counter as checkpoint bytes (8, little-endian).
    public static func encode(_ counter: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: counter >> (8 * $0)) }
    }

    public static func decode(_ data: [UInt8]) -> UInt64? {
        guard data.count == 8 else { return nil }
        return data.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }
}

extension AgentState {
    /// A stable small number for digests (`hashValue` is seeded per process).
    var hashValueStable: UInt64 { UInt64(AgentState.allCases.firstIndex(of: self) ?? 0) }
}
