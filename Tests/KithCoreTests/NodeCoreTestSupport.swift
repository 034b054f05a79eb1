import XCTest
@testable import KithCore

/// A `NodeCore` under test with a fake clock: each input at `now`, which
/// only `advance` moves. Namespaced `NT`.
struct NT {
    var core: NodeCore
    var now: Instant
    /// Every directive so far, in order.
    var history: [NodeDirective] = []

    static let t0 = Instant(nanoseconds: 1_000_000_000)

    init(name: String = "a", seeds: [Endpoint] = [], configAgents: [AgentSpec] = [], tombstones: [Tombstone] = [],
         quorum: RelaunchQuorum = .any) {
        var settings = NodeCore.Settings()
        settings.quorum = quorum
        settings.seeds = seeds
        settings.configAgents = configAgents
        settings.checksInvariants = true
        core = NodeCore(me: NodeID(name: name, uid: 1), meta: NodeMeta(endpoint: "\(name):7946"), settings: settings,
                        authorizer: TagAuthorizer(),
                        randomSeed: 7, tombstones: tombstones, now: NT.t0)
        now = NT.t0
    }

    @discardableResult
    mutating func input(_ input: NodeInput) -> [NodeDirective] {
        let out = core.handle(input, now: now)
        history += out
        return out
    }

    mutating func advance(_ d: Duration) { now = now + d }

    @discardableResult
    mutating func command(_ command: OperatorCommand, target: String? = nil) -> [NodeDirective] {
        input(.operatorCommand(command, target: target, issuer: "op-key", counter: 1))
    }

    /// Starts `spec` here and reports the process spawned (pid 100), not yet connected.
    mutating func startLocal(_ spec: AgentSpec) {
        let out = command(.agentStart(spec, on: core.me.name))
        guard let record = out.spawns.first else { return XCTFail("no spawn for \(spec.name): \(out)") }
        input(.agentSpawned(record.name, generation: record.generation, pid: 100))
    }

    /// Members b and c join, alive: this node sees two others.
    mutating func meetOthers(_ names: [String] = ["b", "c"]) {
        let states = names.map { MemberState(id: NodeID(name: $0, uid: 1), meta: NodeMeta(endpoint: "\($0):7946").credentialed(as: $0),
                                             status: .alive, incarnation: 0) }
        input(.receive(.pushPull(from: NodeID(name: names[0], uid: 1), replyTo: "\(names[0]):7946", isReply: true,
                                 isJoin: false, states: states)))
    }

    static func spec(_ name: String, protects: [String] = []) -> AgentSpec {
        AgentSpec(name: name, command: "/bin/agent", protects: protects)
    }
}

extension Array where Element == NodeDirective {
    var spawns: [AgentRecord] { compactMap { if case let .spawn(record, _) = $0 { record } else { nil } } }
    var events: [NodeEvent] { compactMap { if case let .record(event) = $0 { event } else { nil } } }
    func events(_ name: String) -> [NodeEvent] { events.filter { $0.name == name } }
    var answers: [JSON] { compactMap { if case let .answerOperator(body) = $0 { body } else { nil } } }
    var replies: [(AgentOrigin, JSON)] { compactMap { if case let .replyAgent(origin, body) = $0 { (origin, body) } else { nil } } }
    var pushes: [(JSON, String)] { compactMap { if case let .push(json, agent) = $0 { (json, agent) } else { nil } } }
    var sends: [(Message, Endpoint)] { compactMap { if case let .send(message, endpoint) = $0 { (message, endpoint) } else { nil } } }
}
