import KithCore
import KithUV

/// One daemon: drives the membership and agent Instances with shell events
/// and carries out their directives (the Shell of swift-cluster-membership).
///
/// Everything here runs on the loop thread; no locks. The core decides,
/// this class only moves bytes, arms the one timer the core asks for,
/// starts and stops processes, and logs.
public final class Node {
    public let config: NodeConfig
    let loop: EventLoop
    let logger: Logger
    var membership: Membership
    var registry: AgentRegistry
    let transport: GossipTransport
    let supervisor: Supervisor
    var gateway: AgentGateway?
    var router = AgentRouter()
    /// Ground truth: every event this node observed or did, hash-chained and signed.
    let events: EventLog
    var authority: OperatorAuthority
    var keyring: Keyring { get { transport.keyring } set { transport.keyring = newValue } }
    var faults = FaultFilter(randomSeed: ProcessStats.randomUInt64())
    lazy var delayed = DelayLine(loop: loop) { [unowned self] message, endpoint in
        self.transport.send(message, to: endpoint)
    }
    private var control: ControlServer?
    private let timer: Timer
    let housekeeping: Timer
    let startedAtInstant: Instant
    var leaving = false
    /// Agent replies that wait for replication: agent → checkpoint seq → (session, request id).
    var pendingCheckpointReplies: [String: [UInt64: (AgentGateway.Session, JSON?)]] = [:]
    /// What agents claim about peers, kept apart from what daemons observe: peer → reporter → status.
    var reports: [String: [String: String]] = [:]
    var configAgentsStarted = false

    /// Binds the gossip, control and agent ports; throws a readable reason if one is taken.
    public init(config: NodeConfig, loop: EventLoop, logger baseLogger: Logger) throws(NodeError) {
        self.config = config
        self.loop = loop
        let dataDir = config.effectiveDataDir
        if let problem = makeDirectory(dataDir) { throw NodeError("cannot create data dir \(dataDir): \(problem)") }
        do {
            events = try EventLog(directory: dataDir, node: config.name)
        } catch {
            throw NodeError("cannot open the event log in \(dataDir): \(error)")
        }
        let sink = EventSink(events)
        let logger = baseLogger.recording { event, fields, tsMs in sink.append(event, fields, tsMs: tsMs) }
        events.onError = { reason in baseLogger.error("event_log_write_failed", ["reason": .string(reason)]) }
        if let note = events.recoveryNote { logger.warn("event_log_recovered", ["note": .string(note)]) }
        let uid = (UInt64(ProcessStats.wallMilliseconds) << 20) | (ProcessStats.randomUInt64() & 0xFFFFF)
        let id = NodeID(name: config.name, uid: uid)
        self.logger = logger
        let now = Instant(nanoseconds: loop.hrtimeNanoseconds)
        startedAtInstant = now
        let meta = NodeMeta(endpoint: config.advertisedEndpoint, control: config.advertisedControl,
                            capacity: config.capacity, tags: config.tags)
        membership = Membership(me: id, meta: meta, seeds: config.join, settings: config.membership,
                                randomSeed: ProcessStats.randomUInt64(), now: now)
        registry = AgentRegistry(me: id, quorum: config.relaunchQuorum, randomSeed: ProcessStats.randomUInt64(), now: now)
        transport = GossipTransport(loop: loop, logger: logger)
        authority = OperatorAuthority(trusted: config.operatorKeys, dataDir: dataDir)
        do {
            transport.keyring = try Keyring.parse(Node.savedKeyring(dataDir: dataDir) ?? config.clusterKeys)
        } catch {
            throw NodeError("cluster keys: \(error)")
        }
        timer = Timer(loop: loop)
        housekeeping = Timer(loop: loop)
        let socketPath = config.agentSocketPath
        supervisor = Supervisor(loop: loop, logger: logger, dataDir: dataDir, socketPath: socketPath, nodeName: config.name)
        guard let listen = parseHostPort(config.listen), let controlAddress = parseHostPort(config.control) else {
            throw NodeError("listen and control must be HOST:PORT")
        }
        do {
            try transport.listen(host: listen.host, port: listen.port)
        } catch {
            throw NodeError("cannot listen for gossip on \(config.listen): \(error)")
        }
        do {
            control = try ControlServer(loop: loop, host: controlAddress.host, port: controlAddress.port) {
                [unowned self] cmd, request in self.answer(cmd, request)
            }
            gateway = try AgentGateway(loop: loop, path: socketPath, logger: logger)
        } catch {
            transport.close()
            control?.close()
            throw NodeError("cannot listen on \(config.control) or \(socketPath): \(error)")
        }
        transport.onMessage = { [unowned self] message in self.received(message) }
        transport.onRefused = { [unowned self] endpoint in
            self.perform(self.membership.peerRefused(endpoint, now: self.now))
        }
        supervisor.onExit = { [unowned self] name, generation, status in
            self.performAgents(self.registry.exited(name, generation: generation, status: status, now: self.now))
        }
        wireGateway()
        restoreTombstones()
    }

    var now: Instant { Instant(nanoseconds: loop.hrtimeNanoseconds) }

    public func start() {
        logger.record(.info, "started", ["uid": .string(String(membership.me.uid, radix: 16)),
                                "listen": .string(config.listen), "control": .string(config.control),
                                "join": .array(config.join.map(JSON.string)),
                                "agent_socket": .string(config.agentSocketPath),
                                "node_key": .string(events.publicKeyHex)])
        // The registry needs a view even before anything changes: a lone node hosts agents too.
        performAgents(registry.updateView(membership.members, now: now))
        perform(membership.start(now: now))
        housekeeping.start(afterMilliseconds: 500, repeatMilliseconds: 500) { [unowned self] in self.houseKeep() }
    }

    /// Graceful stop: stop this node's agents, tell every member this node
    /// left, wait (bounded) for the words to be written, then close everything.
    public func shutdown(completion: @escaping () -> Void) {
        guard !leaving else { return }
        leaving = true
        logger.record(.info, "leaving")
        housekeeping.stop()
        gateway?.close()
        supervisor.stopAll { [unowned self] in
            self.perform(self.membership.leave(now: self.now))
            // Agents took up to 1 s; the goodbyes get 700 ms more, so SIGTERM to exit stays under 2 s.
            let deadline = self.loop.nowMilliseconds + 700
            self.timer.start(afterMilliseconds: 10, repeatMilliseconds: 10) { [unowned self] in
                guard self.transport.isFlushed || self.loop.nowMilliseconds >= deadline else { return }
                self.timer.stop()
                self.transport.close()
                self.control?.close()
                self.control = nil
                self.timer.close()
                self.housekeeping.close()
                completion()
            }
        }
    }

    private func received(_ message: Message) {
        switch message {
        case .agents, .checkpoint, .checkpointAck, .relaunchRequest, .tombstones:
            performAgents(registry.receive(message, now: now))
        case let .agentMessage(from, to, payload):
            _ = route(from: from, to: to, payload: payload)
        case .ping, .pingReq, .ack, .nack, .pushPull:
            perform(membership.receive(message, now: now))
        }
    }

    /// Carries out the membership core's directives, then re-arms the timer.
    func perform(_ directives: [MembershipDirective]) {
        var viewChanged = false
        for directive in directives {
            switch directive {
            case let .send(message, to: endpoint):
                send(message, to: endpoint)
            case let .memberChanged(member, previous):
                viewChanged = true
                logger.record(.info, "member_changed", [
                    "member": .string(member.id.name), "uid": .string(String(member.id.uid, radix: 16)),
                    "state": .string(member.status.description),
                    "previous": previous.map { .string($0.description) } ?? .null,
                    "incarnation": .int(Int64(member.incarnation)),
                ])
                memberEvent(member)
            case let .refuted(incarnation):
                logger.record(.warn, "refuted_suspicion", ["incarnation": .int(Int64(incarnation))])
            }
        }
        if viewChanged && !leaving {
            performAgents(registry.updateView(membership.members, now: now))
        } else {
            armTimer()
        }
    }

    /// Every frame to a peer goes through the fault filter first.
    func send(_ message: Message, to endpoint: Endpoint) {
        guard !faults.rules.isEmpty, let peer = membership.member(at: endpoint) else {
            transport.send(message, to: endpoint)
            return
        }
        switch faults.verdict(to: peer.id.name, nowMs: loop.nowMilliseconds) {
        case .send: transport.send(message, to: endpoint)
        case .drop: return
        case .delay(let ms): delayed.hold(message, to: endpoint, forMs: ms)
        }
    }

    func armTimer() {
        guard !leaving else { return }
        let next = [membership.nextDeadline, registry.nextDeadline].compactMap { $0 }.min()
        guard let deadline = next else { timer.stop(); return }
        let waitNs = deadline.since(now).nanoseconds
        let waitMs = UInt64((waitNs + 999_999) / 1_000_000)
        timer.start(afterMilliseconds: waitMs) { [unowned self] in
            let now = self.now
            let agentDirectives = self.registry.tick(now: now)
            self.perform(self.membership.tick(now: now))
            self.performAgents(agentDirectives)
        }
    }

    /// Once a second: expire held messages, start config agents once joined.
    private func houseKeep() {
        for (to, message) in router.expire(nowMs: loop.nowMilliseconds) {
            gateway?.push(["event": "send_failed", "to": .string(to),
                           "error": .string("agent \(to) was not reachable within \(AgentRouter.holdMs / 1000)s")],
                          to: message.from)
        }
        startConfigAgentsIfReady()
    }
}

/// Lets the logger (a Sendable value) append to the loop-confined event log.
final class EventSink: @unchecked Sendable {
    private let log: EventLog
    init(_ log: EventLog) { self.log = log }
    func append(_ event: String, _ fields: [String: JSON], tsMs: Int64) { log.append(event, fields, tsMs: tsMs) }
}

/// Why a daemon could not start.
public struct NodeError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
