import KithCore
import KithUV

/// One daemon: the Shell around `NodeCore`. It turns loop callbacks into
/// the core's inputs (one `now` per callback) and carries out the
/// directives: frames, processes, agent lines, answers, files, events.
/// Everything here runs on the loop thread; no locks, and no decisions.
public final class Node {
    public let config: NodeConfig
    let loop: EventLoop
    let logger: Logger
    /// The node's protocol; changed only by `handle`.
    private(set) var core: NodeCore
    let transport: GossipTransport
    let supervisor: Supervisor
    var gateway: AgentGateway?
    /// Ground truth: every event this node observed or did, hash-chained and signed.
    let events: EventLog
    var authority: OperatorAuthority
    var keyring: Keyring { get { transport.keyring } set { transport.keyring = newValue } }
    var faults = FaultFilter(randomSeed: ProcessStats.randomUInt64())
    lazy var delayed = DelayLine(loop: loop) { [unowned self] message, endpoint in
        self.transport.send(message, to: endpoint)
    }
    /// Delivery acknowledgements, one per stream per loop turn; the deliveries they cover are recorded first.
    lazy var acks = AckCoalescer(loop: loop) { [unowned self] message, endpoint in
        self.deliveryRecords.flushDelivered()
        self.send(message, to: endpoint, now: Instant(nanoseconds: self.loop.hrtimeNanoseconds))
    }
    /// Acknowledged messages and checkpoints, coalesced into few event-log records.
    lazy var deliveryRecords = DeliveryRecorder(
        loop: loop, endpoint: { [unowned self] in self.core.membership.meta.endpoint },
        record: { [unowned self] event, fields in self.logger.record(.debug, event, fields) })
    private var control: ControlServer?
    var controlConnectionsShed: UInt64 { control?.connectionsShed ?? 0 }
    private let timer: Timer
    /// Notes every `awakeCheckMilliseconds` that the loop runs, so a freeze shows as a gap (`noteAwake`).
    private let awakeTimer: Timer
    /// The last callback's `now`: a later one far beyond it means this daemon was frozen in between.
    private var lastAwake: Instant?
    static let awakeCheckMilliseconds: UInt64 = 100
    /// Gaps shorter than this are ordinary loop delays, not worth telling the core about.
    static let freezeFloor: Duration = .seconds(1)
    /// The deadline the timer is armed for, so an input that leaves it alone costs no re-arm.
    private var armedDeadline: Instant?
    var leaving = false
    /// Agent messages handed to a local agent or to the link towards its host.
    var messagesRouted: UInt64 = 0
    /// Agent messages a local agent's full queue refused.
    var messagesRefused: UInt64 = 0
    /// Counters and latencies derived from every input and its directives, for `/metrics`.
    var metrics = NodeMetrics()
    /// The `--http` endpoint, when configured.
    var http: NodeHTTPEndpoint?
    /// Sees every input with its `now` and directives (the golden-trace tests).
    var onInput: ((NodeInput, Instant, [NodeDirective]) -> Void)?

    /// Binds the gossip, control and agent ports; throws a readable reason if one is taken.
    public convenience init(config: NodeConfig, loop: EventLoop, logger: Logger) throws(NodeError) {
        let uid = (UInt64(ProcessStats.wallMilliseconds) << 20) | (ProcessStats.randomUInt64() & 0xFFFFF)
        try self.init(config: config, loop: loop, logger: logger, uid: uid, randomSeed: ProcessStats.randomUInt64())
    }

    /// With the boot's uid and the core's seed given, so a test can replay the core.
    init(config: NodeConfig, loop: EventLoop, logger baseLogger: Logger, uid: UInt64, randomSeed: UInt64) throws(NodeError) {
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
        self.logger = logger
        let tombstones = Node.restoreTombstones(path: Node.tombstonePath(dataDir: dataDir), logger: logger)
        let nodeVerifier = try Node.nodeVerifier(config, dataDir: dataDir)
        core = NodeCore(me: NodeID(name: config.name, uid: uid), meta: Node.meta(config), settings: Node.coreSettings(config),
                        authorizer: SignedRequestAuthorizer(trusted: config.operatorKeys, cluster: config.cluster),
                        nodeVerifier: nodeVerifier, randomSeed: randomSeed, tombstones: tombstones,
                        now: Instant(nanoseconds: loop.hrtimeNanoseconds))
        transport = GossipTransport(loop: loop, logger: logger)
        authority = OperatorAuthority(trusted: config.operatorKeys, dataDir: dataDir, cluster: config.cluster)
        if config.insecure { logger.warn("insecure", ["note": "--insecure: node-to-node frames are not authenticated"]) }
        do {
            transport.keyring = try Keyring.parse(Node.savedKeyring(dataDir: dataDir) ?? config.clusterKeys)
        } catch {
            throw NodeError("cluster keys: \(error)")
        }
        timer = Timer(loop: loop)
        awakeTimer = Timer(loop: loop)
        let socketPath = config.agentSocketPath
        supervisor = Supervisor(loop: loop, logger: logger, dataDir: dataDir, socketPath: socketPath, nodeName: config.name,
                                containment: config.containment, logBytesMax: config.agentLogBytesMax)
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
        transport.onMessage = { [unowned self] message in self.input(.receive(message)) }
        transport.onRefused = { [unowned self] endpoint in self.input(.peerRefused(endpoint)) }
        supervisor.onExit = { [unowned self] name, generation, status in
            self.input(.agentExited(name, generation: generation, status: status))
        }
        supervisor.onStopped = { [unowned self] name, generation in
            self.input(.agentStopped(name, generation: generation))
        }
        wireGateway()
        sink.onRecord = { [unowned self] record in self.streamRecord(record) }
        do throws(NodeError) { try startHTTP() } catch {
            transport.close()
            control?.close()
            gateway?.close()
            throw error
        }
    }

    /// What this node tells members about itself.
    static func meta(_ config: NodeConfig) -> NodeMeta {
        NodeMeta(endpoint: config.advertisedEndpoint, control: config.advertisedControl, http: config.advertisedHTTP,
                 capacity: config.capacity, tags: config.tags)
    }

    /// The core's settings from the daemon's config.
    static func coreSettings(_ config: NodeConfig) -> NodeCore.Settings {
        var settings = NodeCore.Settings()
        settings.seeds = config.join
        settings.membership = config.membership
        settings.quorum = config.relaunchQuorum
        settings.configAgents = config.agents
        return settings
    }

    var now: Instant { Instant(nanoseconds: loop.hrtimeNanoseconds) }

    public func start() {
        logger.record(.info, "started", ["uid": .string(String(core.me.uid, radix: 16)),
                                         "listen": .string(config.listen), "control": .string(config.control),
                                         "join": .array(config.join.map(JSON.string)),
                                         "agent_socket": .string(config.agentSocketPath),
                                         "node_key": .string(events.publicKeyHex)])
        input(.start)
        awakeTimer.start(afterMilliseconds: Node.awakeCheckMilliseconds, repeatMilliseconds: Node.awakeCheckMilliseconds) {
            [unowned self] in self.noteAwake(self.now)
        }
    }

    /// Feeds the core `resumed` before anything else when this callback comes
    /// long after the last one (SIGSTOP, a frozen VM): the core decides
    /// whether the gap may have cost this node its membership, and fences.
    private func noteAwake(_ now: Instant) {
        defer { if let last = lastAwake { lastAwake = max(last, now) } else { lastAwake = now } }
        guard let last = lastAwake, now > last, !leaving else { return }
        let gap = now.since(last)
        // Shorter gaps are scheduling noise, unless a suspicion is shorter still (faster settings).
        guard gap >= min(Node.freezeFloor, core.membership.shortestSuspicion) else { return }
        lastAwake = now
        input(.resumed(after: gap), now: now)
    }

    /// SIGHUP: `logFile` (kithd's own, if any) is opened anew, and agent
    /// logs are opened anew too (each is rotated by its writer as it reaches its cap).
    public func reopenLogs(_ logFile: LogFile?) {
        let problem = logFile?.reopen()
        supervisor.reopenLogs()
        var fields: [String: JSON] = ["log_file": logFile.map { .string($0.path) } ?? .null]
        if let problem { fields["error"] = .string(problem) }
        logger.record(problem == nil ? .info : .error, "logs_reopened", fields)
    }

    /// Graceful stop: stop this node's agents, tell every member this node
    /// left, wait (bounded) for the words to be written, then close everything.
    public func shutdown(completion: @escaping () -> Void) {
        guard !leaving else { return }
        leaving = true
        logger.record(.info, "leaving")
        input(.stopping)
        gateway?.close()
        supervisor.stopAll { [unowned self] in
            self.input(.leave)
            // Agents took up to 1 s; the goodbyes get 700 ms more, so SIGTERM to exit stays under 2 s.
            let deadline = self.loop.nowMilliseconds + 700
            self.timer.start(afterMilliseconds: 10, repeatMilliseconds: 10) { [unowned self] in
                guard self.transport.isFlushed || self.loop.nowMilliseconds >= deadline else { return }
                self.timer.stop()
                self.deliveryRecords.close()
                self.transport.close()
                self.control?.close()
                self.control = nil
                self.http?.close()
                self.timer.close()
                self.awakeTimer.close()
                completion()
            }
        }
    }

    /// One input, at this callback's `now`: the core decides, the shell carries out, the timer follows.
    /// Returns the operator's answer when the input produced one.
    @discardableResult
    func input(_ input: NodeInput, now: Instant? = nil) -> JSON? {
        let now = now ?? self.now
        noteAwake(now)
        let directives = core.handle(input, now: now)
        let moved = core.deadlineMayHaveMoved
        onInput?(input, now, directives)
        metrics.observe(input, directives, now: now)
        let answer = perform(directives, now: now)  // may feed inputs of its own (spawned, unreachable)
        if moved { armTimer(now: now) }
        return answer
    }

    private func armTimer(now: Instant) {
        guard !leaving else { return }
        let deadline = core.nextDeadline
        guard deadline != armedDeadline else { return }
        armedDeadline = deadline
        guard let deadline else { timer.stop(); return }
        let waitNs = deadline.since(now).nanoseconds
        timer.start(afterMilliseconds: UInt64((waitNs + 999_999) / 1_000_000)) { [unowned self] in
            self.armedDeadline = nil
            self.input(.tick)
        }
    }

    /// Every frame to a peer goes through the fault filter first.
    func send(_ message: Message, to endpoint: Endpoint, now: Instant) {
        guard !faults.rules.isEmpty, let peer = core.membership.member(at: endpoint) else {
            transport.send(message, to: endpoint)
            return
        }
        switch faults.verdict(to: peer.id.name, now: now) {
        case .send: transport.send(message, to: endpoint)
        case .drop: return
        case .delay(let delay): delayed.hold(message, to: endpoint, forMs: UInt64(delay.nanoseconds / 1_000_000))
        }
    }
}

/// Lets the logger (a Sendable value) append to the loop-confined event log.
final class EventSink: @unchecked Sendable {
    private let log: EventLog
    /// Sees each record once it is written (the HTTP event stream).
    var onRecord: ((JSON) -> Void)?
    init(_ log: EventLog) { self.log = log }
    func append(_ event: String, _ fields: [String: JSON], tsMs: Int64) {
        if let record = log.append(event, fields, tsMs: tsMs) { onRecord?(record) }
    }
}

/// Why a daemon could not start.
public struct NodeError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
