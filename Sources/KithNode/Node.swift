import KithCore
import KithUV

/// One daemon: drives the membership Instance with shell events and
/// carries out its directives (the Shell of swift-cluster-membership).
///
/// Everything here runs on the loop thread; no locks. The core decides,
/// this class only moves bytes, arms the one timer the core asks for, and logs.
public final class Node {
    public let config: NodeConfig
    let loop: EventLoop
    let logger: Logger
    var membership: Membership
    let transport: GossipTransport
    private var control: ControlServer?
    private let timer: Timer
    let startedAtInstant: Instant
    private var leaving = false

    /// Binds the gossip and control ports; throws a readable reason if either is taken.
    public init(config: NodeConfig, loop: EventLoop, logger: Logger) throws(NodeError) {
        self.config = config
        self.loop = loop
        let uid = (UInt64(ProcessStats.wallMilliseconds) << 20) | (ProcessStats.randomUInt64() & 0xFFFFF)
        let id = NodeID(name: config.name, uid: uid)
        self.logger = logger
        let now = Instant(nanoseconds: loop.hrtimeNanoseconds)
        startedAtInstant = now
        let meta = NodeMeta(endpoint: config.advertisedEndpoint, control: config.control,
                            capacity: config.capacity, tags: config.tags)
        membership = Membership(me: id, meta: meta, seeds: config.join, settings: config.membership,
                                randomSeed: ProcessStats.randomUInt64(), now: now)
        transport = GossipTransport(loop: loop, logger: logger)
        timer = Timer(loop: loop)
        guard let listen = parseHostPort(config.listen), let controlAddress = parseHostPort(config.control) else {
            throw NodeError("listen and control must be HOST:PORT")
        }
        do {
            try transport.listen(host: listen.host, port: listen.port)
        } catch {
            throw NodeError("cannot listen for gossip on \(config.listen): \(error)")
        }
        transport.onMessage = { [unowned self] message in
            self.perform(self.membership.receive(message, now: self.now))
        }
        transport.onRefused = { [unowned self] endpoint in
            self.perform(self.membership.peerRefused(endpoint, now: self.now))
        }
        do {
            control = try ControlServer(loop: loop, host: controlAddress.host, port: controlAddress.port) {
                [unowned self] cmd, request in self.answer(cmd, request)
            }
        } catch {
            transport.close()
            throw NodeError("cannot listen for control on \(config.control): \(error)")
        }
    }

    var now: Instant { Instant(nanoseconds: loop.hrtimeNanoseconds) }

    public func start() {
        logger.info("started", ["uid": .string(String(membership.me.uid, radix: 16)),
                                "listen": .string(config.listen), "control": .string(config.control),
                                "join": .array(config.join.map(JSON.string))])
        perform(membership.start(now: now))
    }

    /// Graceful leave: tell every member, wait (bounded) for the words to be
    /// written, then close everything and call `completion`.
    public func shutdown(completion: @escaping () -> Void) {
        guard !leaving else { return }
        leaving = true
        logger.info("leaving")
        perform(membership.leave(now: now))
        let deadline = loop.nowMilliseconds + 1000
        timer.start(afterMilliseconds: 10, repeatMilliseconds: 10) { [unowned self] in
            guard self.transport.isFlushed || self.loop.nowMilliseconds >= deadline else { return }
            self.timer.stop()
            self.transport.close()
            self.control?.close()
            self.control = nil
            self.timer.close()
            completion()
        }
    }

    /// Carries out the core's directives, then re-arms the timer.
    func perform(_ directives: [MembershipDirective]) {
        for directive in directives {
            switch directive {
            case let .send(message, to: endpoint):
                transport.send(message, to: endpoint)
            case let .memberChanged(member, previous):
                logger.info("member_changed", [
                    "member": .string(member.id.name), "uid": .string(String(member.id.uid, radix: 16)),
                    "state": .string(member.status.description),
                    "previous": previous.map { .string($0.description) } ?? .null,
                    "incarnation": .int(Int64(member.incarnation)),
                ])
            case let .refuted(incarnation):
                logger.warn("refuted_suspicion", ["incarnation": .int(Int64(incarnation))])
            }
        }
        if !leaving { armTimer() }
    }

    private func armTimer() {
        guard let deadline = membership.nextDeadline else { timer.stop(); return }
        let waitNs = deadline.since(now).nanoseconds
        let waitMs = UInt64((waitNs + 999_999) / 1_000_000)
        timer.start(afterMilliseconds: waitMs) { [unowned self] in
            self.perform(self.membership.tick(now: self.now))
        }
    }
}

/// Why a daemon could not start.
public struct NodeError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
