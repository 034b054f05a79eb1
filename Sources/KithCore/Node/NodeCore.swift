/// One node's whole protocol: membership, the agent registry, routing of
/// agent messages, the agent API's and the operator's decisions. The
/// composition the daemon and the simulator share, so what the simulator
/// proves is what the daemon runs.
///
/// An Instance: a value type that performs no IO and reads no clock. Every
/// input (`handle(_:now:)`) returns `[NodeDirective]` for the shell; a
/// timeout comes back as `tick` once `nextDeadline` passes; what the shell
/// did (spawned, exited, connected) comes back as inputs too.
public struct NodeCore: Sendable {
    /// What a node is told at boot, beside its identity.
    public struct Settings: Hashable, Sendable {
        /// Gossip endpoints to join through.
        public var seeds: [Endpoint] = []
        public var membership: MembershipSettings = .lan
        public var quorum: RelaunchQuorum = .any
        /// How often the registry is compared, by digest, with one random member's.
        public var registrySyncInterval: Duration = .seconds(2)
        /// Agents from the config file, started here once the node has heard the cluster.
        public var configAgents: [AgentSpec] = []
        /// How long after boot config agents wait, so a restarted node first
        /// hears the registry (an agent relaunched elsewhere meanwhile is not duplicated).
        public var configAgentsDelay: Duration = .milliseconds(1500)
        /// Check `assertInvariants()` after every input (debug builds and simulations).
        public var checksInvariants = NodeCore.isDebugBuild

        public init() {}
    }

    public let settings: Settings
    public private(set) var membership: Membership
    public internal(set) var registry: AgentRegistry
    public internal(set) var router = AgentRouter()
    /// What agents claim about peers, kept apart from what daemons observe: peer → reporter → status.
    public internal(set) var reports: [String: [String: String]] = [:]
    /// Agent checkpoints waiting for replication before their answer: agent → seq → request.
    var pendingCheckpointReplies: [String: [UInt64: AgentOrigin]] = [:]
    public internal(set) var configAgentsStarted = false
    public let startedAt: Instant
    /// A graceful stop began: the view no longer moves agents, and no timer runs.
    public private(set) var isStopping = false
    /// False after an input that only routed agent messages (the hot path) and
    /// held none: `nextDeadline` is as before, and the shell need not ask.
    public private(set) var deadlineMayHaveMoved = true

    public var me: NodeID { membership.me }

    /// `randomSeed` seeds membership as it is, and the registry with a draw
    /// from it (so a membership history does not change when agents come along);
    /// `tombstones` are those an earlier boot persisted; `authorizer` checks the
    /// operator proofs that records and tombstones carry.
    /// `nodeVerifier` checks and makes node signatures (`left`, checkpoints);
    /// nil means the simulated `TagNodeVerifier`.
    public init(me: NodeID, meta: NodeMeta, settings: Settings, authorizer: any AgentAuthorizer,
                nodeVerifier: (any NodeVerifier)? = nil, randomSeed: UInt64, tombstones: [Tombstone] = [], now: Instant) {
        self.settings = settings
        var registrySeed = SeededRandom(seed: randomSeed ^ 0x6167_656E_7473)
        membership = Membership(me: me, meta: meta, seeds: settings.seeds, settings: settings.membership,
                                randomSeed: randomSeed, verifier: nodeVerifier, now: now)
        registry = AgentRegistry(me: me, quorum: settings.quorum, syncInterval: settings.registrySyncInterval,
                                 authorizer: authorizer, nodeVerifier: membership.verifier, randomSeed: registrySeed.next(),
                                 now: now)
        registry.vouchedSpecs = Dictionary(settings.configAgents.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        registry.restore(tombstones: tombstones)
        startedAt = now
    }

    static var isDebugBuild: Bool {
        #if DEBUG
        true
        #else
        false
        #endif
    }

    /// When the shell must feed `tick` next; nil while stopping.
    public var nextDeadline: Instant? {
        guard !isStopping else { return nil }
        var next = membership.nextDeadline
        func consider(_ deadline: Instant?) {
            if let deadline, next.map({ deadline < $0 }) ?? true { next = deadline }
        }
        consider(registry.nextDeadline)
        if !router.held.isEmpty { consider(router.nextExpiry) }
        consider(router.outbox.nextDeadline)
        if !configAgentsStarted && !settings.configAgents.isEmpty { consider(startedAt + settings.configAgentsDelay) }
        return next
    }

    /// The one entry point: every input, its directives in the order the shell must carry them out.
    public mutating func handle(_ input: NodeInput, now: Instant) -> [NodeDirective] {
        var out: [NodeDirective] = []
        let heldBefore = router.heldCount
        let armingsBefore = router.outbox.armings
        let configBefore = configAgentsStarted
        switch input {
        case .start:
            // The registry needs a view even before anything changes: a lone node hosts agents too.
            updateRegistryView(now: now, into: &out)
            absorb(membership.start(now: now), now: now, into: &out)
        case .receive(let message):
            receive(message, now: now, into: &out)
        case .tick:
            tick(now: now, into: &out)
        case .peerRefused(let endpoint):
            absorb(membership.peerRefused(endpoint, now: now), now: now, into: &out)
        case let .agentSpawned(name, generation, pid):
            registry.spawned(name, generation: generation, pid: pid)
        case let .agentSpawnFailed(name, generation, error):
            // A command that cannot start counts as a crash: restart limits apply.
            absorb(registry.exited(name, generation: generation, status: "spawn failed: \(error)", now: now),
                   now: now, into: &out)
        case let .agentExited(name, generation, status):
            absorb(registry.exited(name, generation: generation, status: status, now: now), now: now, into: &out)
        case let .agentStopped(name, generation):
            absorb(registry.stoppedProcessExited(name, generation: generation, now: now), now: now, into: &out)
        case .resumed(let gap):
            resumed(after: gap, now: now, into: &out)
        case let .agentConnected(name, generation):
            absorb(registry.connected(name, generation: generation, now: now), now: now, into: &out)
            flushHeld(for: name, now: now, into: &out)
        case let .agentUnreachable(message, origin):
            if let stamp = message.stamp {
                undelivered(message, stamp: stamp, origin: origin, now: now)
            } else {
                hold(message, origin: origin, now: now, into: &out)
            }
        case let .agentRequest(origin, op, request):
            agentRequest(origin, op: op, request: request, now: now, into: &out)
        case let .agentSend(origin, to, payload):
            agentSend(origin, to: to, payload: payload, now: now, into: &out)
        case let .operatorCommand(command, target, issuer, counter, proof):
            operatorCommand(command, target: target, issuer: issuer, counter: counter, proof: proof, now: now, into: &out)
        case .stopping:
            isStopping = true
        case .leave:
            isStopping = true
            absorb(membership.leave(now: now), now: now, into: &out)
        }
        if !isStopping { startConfigAgentsIfReady(now: now, into: &out) }
        deadlineMayHaveMoved = !(Self.onlyRoutes(input) && router.heldCount == heldBefore && configAgentsStarted == configBefore
                                 && (router.outbox.armings == armingsBefore || router.outbox.count == 0))
        if settings.checksInvariants { assertInvariants() }
        return out
    }

    /// Inputs that touch no timer of membership or the registry: routed messages and read-only requests.
    static func onlyRoutes(_ input: NodeInput) -> Bool {
        switch input {
        case .receive(.agentMessage), .receive(.agentAck), .agentUnreachable, .agentSend: true
        case .agentRequest(_, "send", _), .agentRequest(_, "ping", _), .agentRequest(_, "members", _),
             .agentRequest(_, "agents", _), .agentRequest(_, "report", _): true
        default: false
        }
    }

    // MARK: Gossip and time

    mutating func receive(_ message: Message, now: Instant, into out: inout [NodeDirective]) {
        switch message {
        case .agents, .agentDigest, .checkpoint, .checkpointAck, .checkpointFetch, .checkpointOffer, .relaunchRequest, .tombstones:
            absorb(registry.receive(message, now: now), now: now, into: &out)
        case let .agentMessage(from, to, payload, stamp):
            route(AgentMessage(from: from, to: to, payload: payload, stamp: stamp), origin: .network, now: now, into: &out)
        case .agentAck(let ack):
            acknowledged(ack, now: now, into: &out)
        case .ping, .pingReq, .ack, .nack, .pushPull:
            absorb(membership.receive(message, now: now), now: now, into: &out)
        }
    }

    /// Every timer: the registry's (restarts, grace periods, anti-entropy), then
    /// membership's (probes, suspicions, push-pull), then held messages that waited too long,
    /// and agents' messages due to be sent again or given up on.
    mutating func tick(now: Instant, into out: inout [NodeDirective]) {
        guard !isStopping else { return }
        absorb(registry.tick(now: now), now: now, into: &out)
        absorb(membership.tick(now: now), now: now, into: &out)
        let seconds = AgentRouter.holdDuration.nanoseconds / 1_000_000_000
        for (to, message) in router.expire(now: now) {
            out.append(.push(Self.sendFailed(to: to, id: nil, reason: "timeout",
                                             error: "agent \(to) was not reachable within \(seconds)s"), to: message.from))
        }
        deliveryTick(now: now, into: &out)
    }

    /// Carries the membership core's directives over, and moves the agents when the view changed.
    mutating func absorb(_ directives: [MembershipDirective], now: Instant, into out: inout [NodeDirective]) {
        // Rows of the table that changed, each once, for the registry's view (nil: forgotten).
        var changed: [String] = []
        var seen: Set<String> = []
        func note(_ name: String) { if seen.insert(name).inserted { changed.append(name) } }
        for directive in directives {
            switch directive {
            case let .send(message, to: endpoint):
                out.append(.send(message, to: endpoint))
            case let .memberUpdated(member):
                note(member.id.name)
            case let .memberForgotten(id):
                note(id.name)
            case let .memberChanged(member, previous):
                note(member.id.name)
                out.append(.record(NodeEvent(.info, "member_changed", [
                    "member": .string(member.id.name), "uid": .string(String(member.id.uid, radix: 16)),
                    "state": .string(member.status.description),
                    "previous": previous.map { .string($0.description) } ?? .null,
                    "incarnation": .int(Int64(member.incarnation)),
                ])))
                memberEvent(member, into: &out)
            case let .declaredDead(incarnation):
                fenceLocalAgents(because: "a member declared this node dead (refuted at incarnation \(incarnation))",
                                 now: now, into: &out)
            case let .refuted(incarnation):
                out.append(.record(NodeEvent(.warn, "refuted_suspicion", ["incarnation": .int(Int64(incarnation))])))
            case let .forgedRefused(what, subject, from, reason):
                out.append(.record(NodeEvent(.warn, "forged_refused", [
                    "what": .string(what), "member": .string(subject), "peer": .string(from), "reason": .string(reason),
                ])))
            }
        }
        if !changed.isEmpty && !isStopping {
            updateRegistryView(changed: changed, now: now, into: &out)
        }
    }

    /// Membership events for subscribed agents.
    func memberEvent(_ member: Member, into out: inout [NodeDirective]) {
        let event: String
        switch member.status {
        case .dead, .left: event = "member_dead"
        case .alive: event = "member_alive"
        case .suspect: return
        }
        out.append(.publish(event: event, ["event": .string(event), "member": .string(member.id.name),
                                           "state": .string(member.status.description)]))
    }
}
