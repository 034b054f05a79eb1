import XCTest
@testable import KithCore

// Shared fixtures for the AgentRegistry tests: members, specs, records, a
// small in-memory cluster that delivers messages synchronously, and views
// over directives. Namespaced under `AT` or typed `AT...` so nothing
// collides with the Membership fixtures (`MT`).

enum AT {
    // MARK: Time

    static func ms(_ n: Int) -> Instant { Instant(nanoseconds: UInt64(n) * 1_000_000) }

    // MARK: Identities and views

    static func id(_ name: String, uid: UInt64 = 1) -> NodeID { NodeID(name: name, uid: uid) }
    static func endpoint(_ name: String) -> Endpoint { "\(name):7946" }
    /// A checkpoint of `agent` as its host `host` makes it: signed with host's simulated key.
    static func checkpoint(_ agent: String = "a", generation: UInt64, seq: UInt64, data: [UInt8], host: String) -> Checkpoint {
        let statement = NodeStatement.checkpoint(host: host, agent: agent, generation: generation, seq: seq, data: data)
        return Checkpoint(generation: generation, seq: seq, data: data, host: host,
                          signature: TagNodeVerifier(name: host).sign(statement))
    }
    /// The message that carries `checkpoint` of `agent`, sent by `from`.
    static func checkpointMessage(_ checkpoint: Checkpoint, of agent: String = "a", from: String) -> Message {
        .checkpoint(from: id(from), replyTo: endpoint(from), agent: agent, generation: checkpoint.generation,
                    seq: checkpoint.seq, data: checkpoint.data, host: checkpoint.host, signature: checkpoint.signature)
    }

    static func member(_ name: String, uid: UInt64 = 1, _ status: MemberStatus = .alive, capacity: UInt32 = 8) -> Member {
        Member(id: id(name, uid: uid), meta: NodeMeta(endpoint: endpoint(name), capacity: capacity).credentialed(as: name), status: status,
               incarnation: 0, changedAt: .zero)
    }

    /// Every name alive at uid 1, except those listed with another status.
    static func view(_ names: [String], _ statuses: [String: MemberStatus] = [:], capacity: UInt32 = 8) -> [Member] {
        names.map { member($0, statuses[$0] ?? .alive, capacity: capacity) }
    }

    static func nodes(_ n: Int) -> [String] { (1...n).map { "n\($0)" } }

    // MARK: Agents

    static func spec(_ name: String, protects: [String] = [], policy: PreservationPolicy = .none,
                     maxRestarts: Int = 3, maxHandoffs: Int = 3) -> AgentSpec {
        var limits = RestartLimits()
        limits.maxRestarts = maxRestarts
        limits.maxHandoffs = maxHandoffs
        return AgentSpec(name: name, command: "/bin/agent", protects: protects, policy: policy, limits: limits)
    }

    static func record(_ name: String = "a", generation: UInt64 = 1, version: UInt64 = 0, host: String = "n1",
                       uid: UInt64 = 1, state: AgentState = .running, updatedBy: String? = nil,
                       spec: AgentSpec? = nil, signed: Bool = true) -> AgentRecord {
        let spec = spec ?? AT.spec(name)
        // By default the host writes it: a node speaks for its own agents.
        return AT.signed(AgentRecord(spec: spec, generation: generation, version: version, host: host, hostUID: uid,
                                     state: state, updatedBy: updatedBy ?? host,
                                     authorization: signed ? TagAuthorizer().mint(.start(spec)) : nil))
    }

    /// `record` signed by its writer's simulated node key, as its writer would send it.
    static func signed(_ record: AgentRecord) -> AgentRecord {
        var record = record
        // Beyond the wire's limits nothing can be signed (nor sent): tests of those limits get it unsigned.
        guard record.generation <= WireCodec.counterMax, record.version <= WireCodec.counterMax else { return record }
        record.signature = TagNodeVerifier(name: record.updatedBy).sign(NodeStatement.agentRecord(record))
        return record
    }

    /// A tombstone carrying the simulated operator's signed kill-switch (active) or revive.
    static func tombstone(_ agent: String, epoch: UInt64, active: Bool) -> Tombstone {
        let grant: OperatorGrant = active ? .killSwitch(agents: [agent], epoch: epoch) : .revive(agents: [agent], epoch: epoch)
        return Tombstone(agent: agent, epoch: epoch, active: active, reason: active ? "r" : "revived", issuedBy: "op",
                         proof: TagAuthorizer().mint(grant))
    }

    /// A registry on `me` (uid 1) that sees `members`.
    static func registry(_ me: String, members: [Member], quorum: RelaunchQuorum = .any,
                         seed: UInt64 = 1) -> AgentRegistry {
        var registry = AgentRegistry(me: id(me), quorum: quorum, authorizer: TagAuthorizer(), randomSeed: seed, now: .zero)
        _ = registry.updateView(members, now: .zero)
        return registry
    }

    /// Where rendezvous placement puts `agent` among `names`, all with room.
    static func target(_ agent: String, among names: [String]) -> String? {
        Placement.target(for: agent, among: names.map { Placement.Candidate(name: $0, freeSlots: 1) })
    }
}

/// A few registries that share a view and deliver each other's messages at
/// once, in order (no network, no clock): enough to watch one rule play out
/// across nodes. `cut` nodes neither send nor receive.
struct ATCluster {
    var registries: [String: AgentRegistry] = [:]
    /// Everything each node emitted, in order.
    var emitted: [String: [AgentDirective]] = [:]
    var cut: Set<String> = []
    var now: Instant = AT.ms(1)
    private var inFlight: [(to: String, message: Message)] = []

    init(_ names: [String], quorum: RelaunchQuorum = .any, capacity: UInt32 = 8) {
        let members = AT.view(names, capacity: capacity)
        for (k, name) in names.enumerated() {
            registries[name] = AT.registry(name, members: members, quorum: quorum, seed: UInt64(k + 1))
            emitted[name] = []
        }
    }

    var names: [String] { registries.keys.sorted() }

    /// Runs one input on `node`, keeps its directives and queues its messages.
    @discardableResult
    mutating func on(_ node: String, _ body: (inout AgentRegistry) throws -> [AgentDirective]) rethrows -> [AgentDirective] {
        let directives = try body(&registries[node]!)
        absorb(directives, from: node)
        return directives
    }

    mutating func absorb(_ directives: [AgentDirective], from node: String) {
        emitted[node, default: []] += directives
        guard !cut.contains(node) else { return }
        for case let .send(message, to: endpoint) in directives {
            inFlight.append((to: String(endpoint.prefix { $0 != ":" }), message: message))
        }
    }

    /// Delivers queued messages (and those they cause) until none is left.
    mutating func deliver() {
        var budget = 10_000
        while !inFlight.isEmpty && budget > 0 {
            budget -= 1
            let (to, message) = inFlight.removeFirst()
            guard registries[to] != nil, !cut.contains(to) else { continue }
            let directives = registries[to]!.receive(message, now: now)
            absorb(directives, from: to)
        }
        precondition(budget > 0, "messages kept causing messages")
    }

    /// Gives `nodes` (default: all) a new view, then delivers.
    mutating func view(_ members: [Member], on nodes: [String]? = nil) {
        let now = self.now
        for node in nodes ?? names { on(node) { $0.updateView(members, now: now) } }
        deliver()
    }

    /// Forgets what was emitted so far.
    mutating func clearEmitted() { for name in names { emitted[name] = [] } }

    /// Nodes that emitted a spawn of `agent` since the last clear.
    func spawners(of agent: String) -> [String] {
        names.filter { !(emitted[$0] ?? []).spawned.filter { $0.name == agent }.isEmpty }
    }

    func record(_ agent: String, on node: String) -> AgentRecord? { registries[node]?.records[agent] }
}

// MARK: Views over directives

struct ATKill: Equatable {
    var agent: String
    var generation: UInt64
}

extension Array where Element == AgentDirective {
    var spawned: [AgentRecord] {
        compactMap { if case let .spawn(record, _) = $0 { record } else { nil } }
    }

    var spawnCheckpoints: [Checkpoint?] {
        compactMap { directive -> Checkpoint?? in
            if case let .spawn(_, checkpoint) = directive { return .some(checkpoint) }
            return .none
        }
    }

    var killed: [ATKill] {
        compactMap { if case let .kill(agent, generation, _) = $0 { ATKill(agent: agent, generation: generation) } else { nil } }
    }

    var notified: [(guardians: [String], event: AgentEvent)] {
        compactMap { if case let .notify(guardians, event) = $0 { (guardians, event) } else { nil } }
    }

    var changedRecords: [AgentRecord] {
        compactMap { if case let .changed(record, _) = $0 { record } else { nil } }
    }

    var resistances: [(agent: String, by: String, attempt: String)] {
        compactMap { if case let .resistance(agent, by, attempt) = $0 { (agent, by, attempt) } else { nil } }
    }

    var refusals: [(agent: String, by: String, reason: String)] {
        compactMap { if case let .relaunchRefused(agent, by, reason) = $0 { (agent, by, reason) } else { nil } }
    }

    /// What was refused as forged (`forgedRefused`), by kind.
    var forged: [String] {
        compactMap { if case let .forgedRefused(what, _, _, _) = $0 { what } else { nil } }
    }

    var acknowledged: [(agent: String, seq: UInt64, replicas: Int)] {
        compactMap {
            if case let .checkpointAcknowledged(agent, seq, replicas) = $0 { (agent, seq, replicas) } else { nil }
        }
    }

    var sentMessages: [(message: Message, to: Endpoint)] {
        compactMap { if case let .send(message, to) = $0 { (message, to) } else { nil } }
    }

    var tombstoneLists: [[Tombstone]] {
        compactMap { if case let .tombstonesChanged(list) = $0 { list } else { nil } }
    }

    /// The events told to guardians, flattened.
    var events: [AgentEvent] { notified.map(\.event) }
}
