import KithCore

/// What a simulated node's process is doing.
public enum ProcessState: Hashable, Sendable, CustomStringConvertible {
    /// Running its event loop: timers fire, messages are handled.
    case running
    /// Frozen (SIGSTOP, a VM stall): the host's kernel still accepts and
    /// buffers messages, up to `NetworkConditions.pausedBufferLimit`; they
    /// are handled, after the overdue timers, when the node resumes.
    case paused
    /// The process died but the host is up: messages to it are answered with
    /// a refusal (a TCP reset) one latency later, which the sender's shell
    /// reports as `peerRefused`.
    case crashed
    /// The whole host is gone (power off, cable cut): messages vanish silently.
    case hostDown
    /// The node left gracefully and its process exited: like `crashed` for the network.
    case exited

    public var description: String {
        switch self {
        case .running: "running"
        case .paused: "paused"
        case .crashed: "crashed"
        case .hostDown: "host down"
        case .exited: "exited"
        }
    }
}

/// One `.memberChanged` directive, as a node reported it.
public struct Observation: Hashable, Sendable, CustomStringConvertible {
    public var time: Instant
    /// The boot that saw the change.
    public var observer: NodeID
    public var subject: NodeID
    public var status: MemberStatus
    public var previous: MemberStatus?
    public var incarnation: UInt32

    public var description: String {
        "\(time) \(observer.name) sees \(subject) \(previous.map { "\($0) -> " } ?? "")\(status) (inc \(incarnation))"
    }
}

extension Observation {
    /// A `member_changed` event as the node recorded it (the fields the event log and the reports read).
    init?(_ event: NodeEvent, observer: NodeID, time: Instant) {
        func status(_ key: String) -> MemberStatus? {
            event.fields[key]?.stringValue.flatMap { text in MemberStatus.allCases.first { $0.description == text } }
        }
        guard let name = event.fields["member"]?.stringValue,
              let uid = event.fields["uid"]?.stringValue.flatMap({ UInt64($0, radix: 16) }),
              let current = status("state"), let incarnation = event.fields["incarnation"]?.intValue,
              let narrowed = UInt32(exactly: incarnation) else { return nil }
        self.init(time: time, observer: observer, subject: NodeID(name: name, uid: uid), status: current,
                  previous: status("previous"), incarnation: narrowed)
    }
}

/// One `refuted_suspicion` event: `node` raised its incarnation to deny a rumour.
public struct Refutation: Hashable, Sendable {
    public var time: Instant
    public var node: NodeID
    public var incarnation: UInt32
}

/// A fault or other scripted action, as it was applied.
public struct FaultRecord: Hashable, Sendable, CustomStringConvertible {
    public var time: Instant
    public var action: String
    public var description: String { "\(time) \(action)" }
}

/// The last status a node reported for one subject: the simulator's mirror
/// of every membership table, kept from the directives so that checks over
/// all pairs cost an array read, not a dictionary lookup.
struct ViewEntry: Sendable {
    var uid: UInt64 = 0
    var status: MemberStatus?
}

struct SimNode: Sendable {
    let name: String
    let endpoint: Endpoint
    var process: ProcessState = .running
    var boot: UInt32 = 0
    var id: NodeID
    /// Events buffered while paused.
    var held: [SimEvent] = []
    var timerGeneration: UInt64 = 0
    var timerAt: Instant?
    /// Indexed by subject node index; may be shorter than the node list.
    var view: [ViewEntry] = []
    /// Subjects this node (as observer) sees alive at their current uid while they run.
    var goodCount = 0
    /// Partition group; messages between different groups are dropped.
    var group = 0
    /// The last scripted action on this node (boot, crash, pause, resume...), for the property monitors.
    var disturbedAt: Instant?
}

/// Many `NodeCore`s in one process, on virtual time, over a fake network:
/// the daemon's own core, unchanged, fed the inputs a shell would feed it.
///
/// Everything random (latency, loss, uids, each node's protocol seed) comes
/// from one `SeededRandom` seeded with `seed`, events run in (time, order of
/// scheduling) order, and nothing iterates a dictionary, so the same seed
/// replays the same history bit for bit.
///
/// Nodes are named `n1`, `n2`, … and listen on `n1:7946`, …. Each boot of a
/// name gets a larger uid (`boot << 20 | 20 random bits`).
///
/// The network, per message: encoded with `WireCodec` (a frame the decoder
/// rejects on arrival fails the run with its replay line), dropped by a
/// partition or drop rule, else lost with `network.loss`, else delivered
/// after `latency + U(0, jitter)`. What happens on arrival depends on the
/// destination's process:
/// - running: `receive`;
/// - paused (SIGSTOP): held by the host, up to `pausedBufferLimit` messages,
///   and handled on resume after the overdue timers (as an event loop does);
///   the rest is dropped, as by full socket buffers;
/// - crashed or exited (host up, nothing listening): refused; the reset
///   travels back (one more latency, stopped only by a partition) and the
///   sender's boot gets `peerRefused(endpoint)`, so a refusal takes a round trip;
/// - host down: dropped silently.
/// A paused sender gets its refusals on resume; a rebooted one never does.
///
/// A scenario reads as a story:
///
///     let sim = Simulation(seed: 7)
///     sim.startCluster(nodes: 16)
///     sim.run(until: { $0.everyoneSeesEveryoneAlive }, timeout: .seconds(10))
///     sim.crash("n5")
///     sim.run(until: { $0.everyone(sees: "n5", as: .dead) }, timeout: .seconds(10))
public final class Simulation {
    public let seed: UInt64
    public let settings: MembershipSettings
    public var network: NetworkConditions
    /// What every boot is told beside its seeds (quorum, registry sync);
    /// invariants are checked after every input.
    public var nodeSettings: NodeCore.Settings
    /// Named in the replay line of a run that fails on its own (a frame the codec rejects).
    public var testName = "KithSimTests"
    /// What a frame the decoder rejects does: by default it stops the run
    /// with its report and replay line (a test may collect them instead).
    public var onCodecFailure: (SimulationReport) -> Void = { report in preconditionFailure("\(report)") }
    /// Properties checked at every step (none unless a test installs them).
    public var monitor: PropertyMonitor?
    /// Names of the seeds a node boots with when none are given.
    public var defaultSeedNames = ["n1", "n2", "n3"]

    public private(set) var now: Instant = .zero
    public internal(set) var stats = MessageStats()
    public private(set) var eventsProcessed = 0
    /// Frames the decoder rejected or changed (each also fails the run, see `onCodecFailure`).
    public internal(set) var codecFailures = 0
    /// Every `.memberChanged`, in order (none kept when `keepsObservations` is off).
    public internal(set) var observations: [Observation] = []
    /// Whether `observations` keeps every change. A 10,000-node join makes
    /// 10^8 of them, so the scaling bench turns this off and keeps only
    /// `observationCount` and `historyDigest`; the queries over the history
    /// (`firstTime`, `spread`, `ever`, property monitors) then see nothing.
    public var keepsObservations = true
    /// How many `.memberChanged` the nodes reported, kept or not.
    public internal(set) var observationCount = 0
    public internal(set) var refutations: [Refutation] = []
    /// Every scripted action, in order.
    public internal(set) var faults: [FaultRecord] = []
    /// Things a correct core never does (a `nextDeadline` at or before `now`
    /// right after `tick`); the simulator then ticks again 1 ms later.
    public internal(set) var anomalies: [String] = []
    /// A running hash of the observations, to compare runs cheaply.
    public internal(set) var historyDigest: UInt64 = 0xcbf2_9ce4_8422_2325

    var rng: SeededRandom
    /// The network's dice for agent-layer frames (kind `other`): their own
    /// stream, so the membership protocol's history under loss and jitter does
    /// not depend on how much the agents talk.
    var agentRng: SeededRandom
    var queue = EventQueue()
    var nodes: [SimNode] = []
    var cores: [NodeCore?] = []
    var indexByName: [String: Int] = [:]
    var indexByEndpoint: [Endpoint: Int] = [:]
    var upCount = 0
    var partitioned = false
    var dropRules: [(id: Int, rule: DropRule, from: Int?, to: Int?)] = []
    /// The last change of partitions or drop rules, for the property monitors.
    var networkChangedAt: Instant?
    var nextDropRuleID = 1
    /// Set whenever something a condition may read may have changed: an
    /// event ran or an action was taken.
    var changed = false
    /// The agents' processes above the cores (`AgentSimulation`); nil for a membership-only run.
    weak var layer: (any SimulationLayer)?

    public init(seed: UInt64, settings: MembershipSettings = .lan, network: NetworkConditions = .init()) {
        self.seed = seed
        self.settings = settings
        self.network = network
        self.rng = SeededRandom(seed: seed)
        self.agentRng = SeededRandom(seed: seed ^ 0x6F74_6865_72)
        var nodeSettings = NodeCore.Settings()
        nodeSettings.membership = settings
        nodeSettings.checksInvariants = true
        self.nodeSettings = nodeSettings
    }

    // MARK: Nodes

    /// The conventional name of the `i`th node (1-based).
    public static func name(_ i: Int) -> String { "n\(i)" }
    public static func endpoint(of name: String) -> Endpoint { "\(name):7946" }

    /// Every node ever added, in the order added.
    public var nodeNames: [String] { nodes.map(\.name) }
    /// Nodes whose process runs (not paused, crashed, down or exited).
    public var upNodes: [String] { nodes.filter { $0.process == .running }.map(\.name) }
    public var nodeCount: Int { nodes.count }

    public func process(_ name: String) -> ProcessState { nodes[index(name)].process }
    /// The id of the node's current (or last) boot.
    public func id(_ name: String) -> NodeID { nodes[index(name)].id }
    /// The node's membership instance, nil while its process is not alive.
    public func membership(_ name: String) -> Membership? { cores[index(name)]?.membership }
    /// The node's whole core, nil while its process is not alive.
    public func core(_ name: String) -> NodeCore? { cores[index(name)] }

    func index(_ name: String) -> Int {
        guard let i = indexByName[name] else { preconditionFailure("no simulated node named \(name)") }
        return i
    }

    /// Boots a node now, or reboots a stopped one. `seeds` are node names;
    /// nil means `defaultSeedNames`.
    @discardableResult
    public func addNode(name: String, seeds: [String]? = nil) -> NodeID {
        let seedEndpoints = (seeds ?? defaultSeedNames).map(Simulation.endpoint(of:))
        if let i = indexByName[name] {
            precondition(nodes[i].process != .running && nodes[i].process != .paused,
                         "\(name) is already running; use restart")
            record("boot \(name)")
            boot(i, seeds: seedEndpoints)
        } else {
            let i = nodes.count
            let endpoint = Simulation.endpoint(of: name)
            nodes.append(SimNode(name: name, endpoint: endpoint, process: .exited, id: NodeID(name: name, uid: 0)))
            cores.append(nil)
            indexByName[name] = i
            indexByEndpoint[endpoint] = i
            record("add \(name)")
            boot(i, seeds: seedEndpoints)
        }
        return nodes[index(name)].id
    }

    /// Starts `count` more nodes at the current instant, named after the
    /// ones already there (`n1`…`nN` for a fresh simulation), all seeded
    /// with `defaultSeedNames`. Returns their names.
    @discardableResult
    public func startCluster(nodes count: Int) -> [String] {
        let first = nodes.count + 1
        let names = (first..<(first + count)).map(Simulation.name)
        for name in names { addNode(name: name) }
        return names
    }

    func boot(_ i: Int, seeds: [Endpoint]) {
        let bootNumber = nodes[i].boot + 1
        let uid = UInt64(bootNumber) << 20 | (rng.next() & 0xF_FFFF)
        let id = NodeID(name: nodes[i].name, uid: uid)
        let meta = NodeMeta(endpoint: nodes[i].endpoint, control: "\(nodes[i].name):7947")
        var bootSettings = nodeSettings
        bootSettings.seeds = seeds
        let core = NodeCore(me: id, meta: meta, settings: bootSettings, authorizer: TagAuthorizer(), randomSeed: rng.next(),
                            tombstones: layer?.persistedTombstones(of: nodes[i].name) ?? [], now: now)
        // The node as an observer starts from scratch: it knows only itself.
        nodes[i].view = []
        nodes[i].goodCount = 0
        nodes[i].disturbedAt = now
        setView(observer: i, subject: i, uid: uid, status: .alive)
        // The node as a subject: a new uid, running.
        changeSubject(i) {
            nodes[i].boot = bootNumber
            nodes[i].id = id
            nodes[i].held = []
            nodes[i].process = .running
        }
        cores[i] = core
        layer?.booted(i)
        input(.start, at: i)
        reschedule(i)
    }

    /// Stops node `i`'s process (`state` says how the network sees it).
    func stop(_ i: Int, as state: ProcessState) {
        nodes[i].disturbedAt = now
        changeSubject(i) {
            nodes[i].process = state
            nodes[i].held = []
        }
        cores[i] = nil
        cancelTimer(i)
        layer?.stopped(i)
    }

    // MARK: Running

    /// Runs every event up to `now + duration`; the clock ends there.
    public func run(for duration: Duration) {
        let end = now + duration
        while let t = queue.nextTime, t <= end { step() }
        now = end
    }

    /// Runs until `condition` holds or `timeout` passes, and returns how long
    /// it took, or nil on timeout (the clock then stands at the timeout).
    ///
    /// The condition is checked between instants, after events ran, at
    /// most once per `resolution` of virtual time, so the figure is exact to
    /// within `resolution`. On success the clock stands at the instant the
    /// condition was seen to hold.
    @discardableResult
    public func run(until condition: (Simulation) -> Bool, timeout: Duration,
                    resolution: Duration = .milliseconds(1)) -> Duration? {
        let start = now
        let end = now + timeout
        changed = false
        if condition(self) { return .zero }
        var checkedAt = now
        while let t = queue.nextTime, t <= end {
            if changed && t > now && t >= checkedAt + resolution {
                changed = false
                checkedAt = now
                if condition(self) { return now.since(start) }
            }
            step()
        }
        if changed {
            changed = false
            if condition(self) { return now.since(start) }
        }
        now = end
        return nil
    }

    /// Runs one event.
    func step() {
        guard let (time, event) = queue.pop() else { return }
        now = time
        eventsProcessed += 1
        changed = true
        handle(event)
        monitor?.check(self)
    }

    func handle(_ event: SimEvent) {
        switch event {
        case let .tick(i, boot, generation):
            guard nodes[i].boot == boot, nodes[i].timerGeneration == generation,
                  nodes[i].process == .running, cores[i] != nil else { return }
            nodes[i].timerAt = nil
            input(.tick, at: i)
            if let next = cores[i]?.nextDeadline, next <= now {
                anomaly("\(nodes[i].id) nextDeadline \(next) did not advance past tick at \(now)")
            }
            reschedule(i, afterTick: true)

        case let .deliver(from, fromBoot, to, frame, sent):
            switch nodes[to].process {
            case .running:
                stats.delivered += 1
                guard let message = decode(frame, sent: sent, from: from, to: to) else { return }
                input(.receive(message), at: to)
                reschedule(to)
            case .paused:
                hold(event, at: to)
            case .crashed, .exited:
                stats.refused += 1
                // The reset travels back; only a partition (not loss: TCP retransmits) stops it.
                guard !isBlocked(from: to, to: from, kind: nil) else { return }
                let other = sent.map { MessageKind($0) == .other } ?? false
                queue.push(.refused(node: from, boot: fromBoot, endpoint: nodes[to].endpoint), at: now + sampleLatency(other: other))
            case .hostDown:
                stats.hostDown += 1
            }

        case let .refused(i, boot, endpoint):
            guard nodes[i].boot == boot else { return }
            switch nodes[i].process {
            case .running:
                input(.peerRefused(endpoint), at: i)
                reschedule(i)
            case .paused:
                hold(event, at: i)
            case .crashed, .hostDown, .exited:
                return
            }

        case let .hook(i, boot, token):
            guard nodes[i].boot == boot else {
                layer?.discard(token)
                return
            }
            switch nodes[i].process {
            case .running:
                layer?.fire(token, at: i)
                reschedule(i)
            case .paused:
                hold(event, at: i)
            case .crashed, .hostDown, .exited:
                layer?.discard(token)
            }
        }
    }

    func hold(_ event: SimEvent, at i: Int) {
        if nodes[i].held.count >= network.pausedBufferLimit {
            stats.overflowed += 1
        } else {
            stats.held += 1
            nodes[i].held.append(event)
        }
    }

    /// Feeds one input to node `i`'s core (it must be alive) and carries out its directives.
    func input(_ input: NodeInput, at i: Int) {
        let recordsBefore = layer == nil ? [:] : cores[i]!.registry.records
        layer?.willHandle(input, at: i)
        let directives = cores[i]!.handle(input, now: now)
        perform(directives, by: i, recordsBefore: recordsBefore)
        layer?.handled(input, at: i)
    }

    /// Carries out what node `i`'s core asked for: the network and the
    /// membership events here, everything about agents in the layer.
    func perform(_ directives: [NodeDirective], by i: Int, recordsBefore: [String: AgentRecord]) {
        for directive in directives {
            switch directive {
            case let .send(message, to: endpoint):
                send(message, from: i, to: endpoint)
            case .record(let event) where event.name == "member_changed":
                guard let observation = Observation(event, observer: nodes[i].id, time: now) else {
                    anomaly("\(nodes[i].id) recorded an unreadable member_changed: \(event.fields)")
                    continue
                }
                observe(observation, observer: i)
            case .record(let event) where event.name == "refuted_suspicion":
                refutations.append(Refutation(time: now, node: nodes[i].id,
                                              incarnation: UInt32(clamping: event.fields["incarnation"]?.intValue ?? 0)))
                changed = true
            default:
                guard cores[i] != nil else { continue }  // a directive after the boot ended has no one to act
                layer?.perform(directive, by: i, recordsBefore: recordsBefore)
            }
        }
    }

    func send(_ message: Message, from i: Int, to endpoint: Endpoint) {
        let kind = MessageKind(message)
        stats.sent += 1
        stats.sentByKind[kind.rawValue] += 1
        let frame = WireCodec.encode(message)
        stats.bytes += frame.count
        guard let to = indexByEndpoint[endpoint] else {
            stats.unroutable += 1
            return
        }
        if isBlocked(from: i, to: to, kind: kind) {
            stats.blocked += 1
            return
        }
        let other = kind == .other
        if network.loss > 0 && (other ? Double(agentRng.next() >> 11) * 0x1p-53 : uniform()) < network.loss {
            stats.lost += 1
            return
        }
        queue.push(.deliver(from: i, fromBoot: nodes[i].boot, to: to, frame: frame, sent: message),
                   at: now + sampleLatency(other: other))
    }

    /// The frame as the receiver's shell decodes it; a rejection, or a
    /// message that differs from the one sent, fails the run.
    func decode(_ frame: [UInt8], sent: Message?, from: Int, to: Int) -> Message? {
        let problem: String
        do {
            let message = try WireCodec.decode(frame)
            // The sender's own values (equal to what the frame decodes to) share their buffers
            // with every receiver: a large run then holds one copy of each node's key and meta.
            guard let sent, message != sent else { return sent ?? message }
            problem = "decodes to another message than \(nodes[from].name) sent: \(sent)"
        } catch {
            problem = "rejected by the decoder: \(error)"
        }
        codecFailures += 1
        anomaly("frame \(nodes[from].name) -> \(nodes[to].name) (\(frame.count) bytes) \(problem)")
        onCodecFailure(report("a frame from \(nodes[from].name) to \(nodes[to].name) is \(problem)", test: testName))
        return nil
    }

    /// Whether a partition or a drop rule stops a message from `from` to
    /// `to`. `kind` nil (a TCP reset) matches only rules for every kind.
    func isBlocked(from: Int, to: Int, kind: MessageKind?) -> Bool {
        if partitioned && nodes[from].group != nodes[to].group { return true }
        for entry in dropRules {
            if let f = entry.from, f != from { continue }
            if let t = entry.to, t != to { continue }
            if let kinds = entry.rule.kinds {
                guard let kind, kinds.contains(kind) else { continue }
            }
            return true
        }
        return false
    }

    /// Schedules node `i`'s next tick at its core's `nextDeadline`.
    func reschedule(_ i: Int, afterTick: Bool = false) {
        guard nodes[i].process == .running, let core = cores[i] else { return }
        guard let deadline = core.nextDeadline else {
            cancelTimer(i)
            return
        }
        var at = max(deadline, now)
        if afterTick && deadline <= now {
            // Overdue right after a tick would spin; the tick handler reported it.
            at = now + .milliseconds(1)
        }
        guard nodes[i].timerAt != at else { return }
        nodes[i].timerGeneration &+= 1
        nodes[i].timerAt = at
        queue.push(.tick(node: i, boot: nodes[i].boot, generation: nodes[i].timerGeneration), at: at)
    }

    func cancelTimer(_ i: Int) {
        nodes[i].timerGeneration &+= 1
        nodes[i].timerAt = nil
    }

    func anomaly(_ text: String) {
        if anomalies.count < 100 { anomalies.append(text) }
    }

    func record(_ action: String) {
        faults.append(FaultRecord(time: now, action: action))
        changed = true
    }

    // MARK: Randomness

    func uniform() -> Double { Double(rng.next() >> 11) * 0x1p-53 }

    func uniform(below n: UInt64) -> UInt64 { n == 0 ? 0 : rng.next() % n }

    func sampleLatency(other: Bool = false) -> Duration {
        let base = max(network.latency.nanoseconds, 1)
        let jitter = max(network.jitter.nanoseconds, 0)
        let draw = other ? agentRng.next() : (jitter > 0 ? rng.next() : 0)
        let extra = jitter > 0 ? Int64(draw % (UInt64(jitter) + 1)) : 0
        return .nanoseconds(base + extra)
    }
}
