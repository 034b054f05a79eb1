/// The cluster-wide agent registry as one node holds it, and this node's
/// part in keeping agents alive: local restarts, relaunch of agents whose
/// host was lost, and stopping duplicates when split views merge.
///
/// An Instance like `Membership`: no IO, no clock, no global state. The
/// shell feeds it the membership view, records from peers, and what its
/// supervisor saw (spawned, connected, exited), and carries out its
/// directives. Every node runs the same deterministic rules on the same
/// records, so they agree on who relaunches what without a leader.
public struct AgentRegistry: Sendable {
    public let me: NodeID
    public var quorum: RelaunchQuorum
    /// The operator's emergency stop: while set, nothing is relaunched anywhere
    /// (local restarts go on), until `resume`.
    public var halted = false
    /// How often this node compares its registry with one random member's (by digest, see `receiveDigest`).
    public var syncInterval: Duration
    public internal(set) var records: [String: AgentRecord] = [:]
    /// The newest checkpoint of each known agent, this node's and replicas of others'.
    /// Changed only through `store(_:of:)`, which keeps the caps.
    public internal(set) var checkpoints: [String: Checkpoint] = [:]
    /// The bytes `checkpoints` holds.
    public internal(set) var checkpointBytes = 0
    /// Agents whose checkpoint this node holds at most (one per known agent).
    public var checkpointsMax = 4096
    /// Bytes of checkpoint data this node holds at most: 1024 checkpoints of the largest size.
    public var checkpointBytesMax = 1024 * WireCodec.maxCheckpointBytes
    /// Kill-switch and quarantine tombstones and their lifts, by agent; never dropped.
    public internal(set) var tombstones: [String: Tombstone] = [:]
    /// Checks the operator proofs that records and tombstones carry.
    public let authorizer: any AgentAuthorizer
    /// Checks (and makes) the node signatures on checkpoints and records.
    public let nodeVerifier: any NodeVerifier
    /// Specs this node vouches for without an operator's signature (its
    /// config file's agents): the only unsigned records it runs.
    public var vouchedSpecs: [String: AgentSpec] = [:]
    /// Records, tombstones and checkpoints refused for want of a valid
    /// operator proof or of their writer's right to speak for them.
    public internal(set) var forgedRefused: UInt64 = 0

    /// The membership view; written only through `updateView`, which keeps `viewCounts` with it.
    private(set) var view: [String: Member] = [:]
    /// Members of `view` alive, and not left: the majority quorum's counts, kept so they cost O(1).
    private(set) var viewCounts = (alive: 0, notLeft: 0)
    /// When each member stopped being live in this node's view.
    var goneSince: [String: Instant] = [:]
    /// When this node itself declared each agent's current generation lost: a
    /// record adopted for a host held dead long ago is lost only after its
    /// fresh-news grace, and its relaunch must count from then, not from the
    /// old verdict (see `quorumPermits`).
    var lossNoticed: [String: LossNoticed] = [:]
    /// When a record was last adopted from a peer: a record newer than our
    /// verdict on its host says the host was running it after all.
    var adoptedAt: [String: Instant] = [:]
    /// How long a freshly adopted record of a host we hold dead waits for the
    /// membership views to merge before it is declared lost: after a healed
    /// partition this stops the two sides relaunching each other's agents.
    public var hostLossGrace: Duration = .seconds(3)
    /// With `relaunch_quorum majority`, how long a majority must have held,
    /// and how long since the agent's host was lost, before this side relaunches:
    /// members across a cut are not all suspected at once (Lifeguard slows the
    /// probing of a node that misses acks), so a minority may briefly count one
    /// of them alive. NodeCore sets it from the suspicion bounds.
    public var quorumGrace: Duration = .seconds(4)
    /// How long the first process of a later generation waits for members'
    /// checkpoints (see `startFirstProcess`) before it starts with what it has.
    public var checkpointFetchTimeout: Duration = .milliseconds(500)
    /// Since when this node has seen a live majority (nil: it does not now).
    var quorumSince: Instant?
    /// When a relaunch held back by `quorumGrace` is due for another look.
    var quorumWake: Instant?
    /// Relaunch requests forwarded here before this node held the agent's host
    /// dead, by agent (at most one each): see `relaunchRequested`.
    var heldRelaunches: [String: HeldRelaunch] = [:]
    var local: [String: LocalAgent] = [:]
    /// Generations of local processes this node asked to stop whose exit it has not seen yet:
    /// until then a stopped record of theirs is not relaunched (one copy at a time).
    var stopping: [String: Set<UInt64>] = [:]
    var pendingCheckpoints: [String: [UInt64: PendingCheckpoint]] = [:]
    var rng: SeededRandom
    var nextSyncAt: Instant

    /// This node's own process for an agent, as its supervisor reports it.
    struct LocalAgent: Sendable {
        var generation: UInt64
        var pid: Int32 = 0
        /// When set, the process is down and restarts at this instant.
        var restartAt: Instant?
        var restartTimes: [Instant] = []
        /// Quarantined: its processes are frozen, not killed.
        var frozen = false
        /// Members whose answer to a checkpoint fetch the first start still waits for.
        var awaitingOffers: Set<String> = []
    }

    /// The moment this node declared one generation of an agent lost.
    struct LossNoticed: Sendable {
        var generation: UInt64
        var at: Instant
    }

    /// A forwarded relaunch request waiting for this node's view to agree.
    struct HeldRelaunch: Sendable {
        var generation: UInt64
        var requester: String
        var until: Instant
    }

    /// A local agent's checkpoint waiting for replicas.
    struct PendingCheckpoint: Sendable {
        var seq: UInt64
        var generation: UInt64
        var holders: Set<String>
        var needed: Int
    }

    public init(me: NodeID, quorum: RelaunchQuorum = .any, syncInterval: Duration = .seconds(2),
                authorizer: any AgentAuthorizer, nodeVerifier: (any NodeVerifier)? = nil, randomSeed: UInt64, now: Instant) {
        self.me = me
        self.authorizer = authorizer
        self.nodeVerifier = nodeVerifier ?? TagNodeVerifier(name: me.name)
        self.quorum = quorum
        self.syncInterval = syncInterval
        self.rng = SeededRandom(seed: randomSeed)
        self.nextSyncAt = now + syncInterval
    }

    // MARK: Reading

    /// Agents that protect `name`: they hear about its loss and relaunch it per their policy.
    public func guardians(of name: String) -> [AgentRecord] {
        records.values.filter { $0.spec.protects.contains(name) }.sorted { $0.name < $1.name }
    }

    /// The pid of this node's process for an agent, when it runs here.
    public func localPID(of name: String) -> Int32? {
        guard let agent = local[name], agent.restartAt == nil, agent.pid > 0 else { return nil }
        return agent.pid
    }

    public var nextDeadline: Instant? {
        var next = nextSyncAt
        // Pending grace periods (expired ones are pruned by `tick`).
        for at in adoptedAt.values { next = min(next, at + hostLossGrace) }
        for agent in local.values { if let at = agent.restartAt { next = min(next, at) } }
        for held in heldRelaunches.values { next = min(next, held.until) }
        if let wake = quorumWake { next = min(next, wake) }
        return next
    }

    var isMine: (AgentRecord) -> Bool { { [me] in $0.host == me.name && $0.hostUID == me.uid } }

    /// Whether the host boot named by the record is still a live member
    /// (suspect counts as live: only a verdict of death moves agents).
    public func hostIsLive(_ record: AgentRecord) -> Bool {
        if isMine(record) { return true }
        guard let member = view[record.host] else { return false }
        return member.id.uid == record.hostUID && member.status.isActive
    }

    var aliveOthers: [Member] {
        view.values.filter { $0.id != me && $0.status == .alive }.sorted { $0.id < $1.id }
    }

    // MARK: Inputs from the membership layer and peers

    /// The membership view changed.
    public mutating func updateView(_ members: [Member], now: Instant) -> [AgentDirective] {
        defer { assertInvariants() }
        let previous = view
        view = Dictionary(members.map { ($0.id.name, $0) }, uniquingKeysWith: { a, _ in a })
        viewCounts = (view.values.count { $0.status == .alive }, view.values.count { $0.status != .left })
        for member in members { noteVerdict(on: member, now: now) }
        // Forgotten members (reaped by membership) need no verdict time: the map stays as small as the view.
        goneSince = goneSince.filter { view[$0.key] != nil }
        let appeared = aliveOthers.filter { member in previous[member.id.name].map { $0.id != member.id || $0.status != .alive } ?? true }
        return viewChanged(appeared: appeared, now: now)
    }

    /// The rows of `names` changed (nil: forgotten by membership), each
    /// name once: the same as `updateView` with the whole view, at the cost
    /// of the change (a 10,000-member view changes a few members at a time).
    public mutating func updateView(changed: [(name: String, member: Member?)], now: Instant) -> [AgentDirective] {
        defer { assertInvariants() }
        var appeared: [Member] = []
        for (name, member) in changed {
            let before = view[name]
            if let before { viewCounts.alive -= before.status == .alive ? 1 : 0; viewCounts.notLeft -= before.status != .left ? 1 : 0 }
            view[name] = member
            guard let member else {
                goneSince[name] = nil
                continue
            }
            viewCounts.alive += member.status == .alive ? 1 : 0
            viewCounts.notLeft += member.status != .left ? 1 : 0
            noteVerdict(on: member, now: now)
            if member.id != me, member.status == .alive, before.map({ $0.id != member.id || $0.status != .alive }) ?? true {
                appeared.append(member)
            }
        }
        return viewChanged(appeared: appeared.sorted { $0.id < $1.id }, now: now)
    }

    private mutating func noteVerdict(on member: Member, now: Instant) {
        if member.status.isActive { goneSince[member.id.name] = nil }
        else if goneSince[member.id.name] == nil { goneSince[member.id.name] = now }
    }

    /// What follows a new view: the quorum's clock, checkpoints for members
    /// that `appeared` alive (sorted), and a reconcile.
    private mutating func viewChanged(appeared: [Member], now: Instant) -> [AgentDirective] {
        noteQuorum(now: now)
        var directives: [AgentDirective] = []
        // A member that (re)appears holds no checkpoints: hand it every one we hold, so that if
        // placement picks it for a relaunch, no acknowledged checkpoint is lost.
        let endpoint = view[me.name]?.meta.endpoint ?? ""
        for member in appeared {
            // The records go first: a node keeps checkpoints only of agents it knows.
            if !checkpoints.isEmpty { directives.append(.send(registryMessage(wantsReply: false), to: member.meta.endpoint)) }
            for (agent, checkpoint) in checkpoints.sorted(by: { $0.key < $1.key }) {
                directives.append(.send(.checkpoint(from: me, replyTo: endpoint, agent: agent, generation: checkpoint.generation,
                                                    seq: checkpoint.seq, data: checkpoint.data, host: checkpoint.host,
                                                    signature: checkpoint.signature), to: member.meta.endpoint))
            }
        }
        reconcile(now: now, into: &directives)
        return directives
    }

    /// Records from another node (`from`): keep whichever supersedes, once
    /// its operator proof holds (`refusal(of:replacing:)`) and its writer may
    /// speak for it (`voiceProblem(of:replacing:)`).
    public mutating func merge(_ incoming: [AgentRecord], from peer: String = "", now: Instant) -> [AgentDirective] {
        defer { assertInvariants() }
        var directives: [AgentDirective] = []
        for record in incoming where record.spec.validate().isEmpty {
            let previous = records[record.name]
            guard previous != nil || records.count < AgentRegistry.recordsMax else { continue }
            guard previous.map({ record.supersedes($0) }) ?? true else { continue }
            if let reason = refusal(of: record, replacing: previous) ?? voiceProblem(of: record, replacing: previous) {
                refuse("agent_record", agent: record.name, from: peer, reason: reason, into: &directives)
                continue
            }
            let record = recomputed(record, replacing: previous)
            if record.state.wantsProcess, tombstone(of: record.name) != nil {
                directives.append(.resistance(agent: record.name, by: record.updatedBy,
                                              attempt: "copy at generation \(record.generation) on \(record.host) met after the switch"))
            }
            records[record.name] = record
            adoptedAt[record.name] = now
            directives.append(.changed(record, previous: previous))
            if record.state == .stopped, previous?.state != .stopped {
                notifyGuardians(of: record.name, .peerStopped(peer: record.name), into: &directives)
            }
            if let previous, previous.generation < record.generation, !isMine(record), !record.state.isTerminal {
                let guardians = guardians(of: record.name).map(\.name)
                if !guardians.isEmpty {
                    directives.append(.notify(guardians: guardians, .peerRelaunched(peer: record.name, node: record.host,
                                                                                    generation: record.generation)))
                }
            }
        }
        reconcile(now: now, into: &directives)
        return directives
    }

    /// Handles the agent-layer messages of the gossip port.
    public mutating func receive(_ message: Message, now: Instant) -> [AgentDirective] {
        defer { assertInvariants() }
        switch message {
        case let .agents(from, replyTo, wantsReply, incoming):
            var directives = merge(incoming, from: from.name, now: now)
            if wantsReply && from != me {
                directives.append(.send(registryMessage(wantsReply: false), to: replyTo))
                if !tombstones.isEmpty {
                    directives.append(.send(.tombstones(from: me, tombstones: tombstones.values.sorted { $0.agent < $1.agent }),
                                            to: replyTo))
                }
            }
            return directives
        case let .agentDigest(from, replyTo, isReply, theirRecords, theirTombstones):
            return receiveDigest(from: from, replyTo: replyTo, isReply: isReply, records: theirRecords,
                                 tombstones: theirTombstones, now: now)
        case let .checkpoint(from, replyTo, agent, generation, seq, data, host, signature):
            let checkpoint = Checkpoint(generation: generation, seq: seq, data: data, host: host, signature: signature)
            // A host this node has no key for yet (it just joined, or restarted) cannot be checked: not held, not acknowledged.
            guard view[host].map({ !$0.meta.key.isEmpty }) == true else { return [] }
            if let reason = checkpointProblem(checkpoint, of: agent) {
                var directives: [AgentDirective] = []
                refuse("checkpoint", agent: agent, from: from.name, reason: reason, into: &directives)
                return directives
            }
            return receiveCheckpoint(checkpoint, of: agent, from: from.name, replyTo: replyTo)
        case let .checkpointAck(from, agent, generation, seq):
            return checkpointHeld(agent: agent, generation: generation, seq: seq, by: from.name)
        case let .checkpointFetch(from, agent):
            return answerFetch(of: agent, from: from)
        case let .checkpointOffer(from, agent, checkpoint):
            return receiveOffer(of: agent, checkpoint: checkpoint, from: from, now: now)
        case let .relaunchRequest(_, agent, generation, by):
            return relaunchRequested(agent, generation: generation, by: by, now: now)
        case let .tombstones(from, incoming):
            var directives: [AgentDirective] = []
            adopt(incoming, from: from.name, now: now, into: &directives)
            return directives
        default:
            return []
        }
    }

    /// Runs timers: local restarts after their backoff, and anti-entropy.
    public mutating func tick(now: Instant) -> [AgentDirective] {
        defer { assertInvariants() }
        var directives: [AgentDirective] = []
        for (name, agent) in local.sorted(by: { $0.key < $1.key }) {
            guard let at = agent.restartAt, now >= at, let record = records[name], isMine(record), record.state.wantsProcess,
                  record.generation == agent.generation else { continue }
            if holdsFencedRestart(of: name) {
                local[name]?.restartAt = now + hostLossGrace
                continue
            }
            local[name]?.restartAt = nil
            local[name]?.awaitingOffers = []
            directives.append(.spawn(record, checkpoint: checkpoints[name]))
        }
        // Grace periods that ran out: their records face the ordinary rules now.
        let expired = adoptedAt.filter { now >= $0.value + hostLossGrace }
        if !expired.isEmpty {
            for name in expired.keys { adoptedAt[name] = nil }
            reconcile(now: now, into: &directives)
        }
        retryHeldRelaunches(now: now, into: &directives)
        if let wake = quorumWake, now >= wake {
            quorumWake = nil
            reconcile(now: now, into: &directives)
        }
        if now >= nextSyncAt {
            nextSyncAt = now + syncInterval
            let others = aliveOthers
            if !others.isEmpty {
                let peer = others[Int(rng.next() % UInt64(others.count))]
                directives.append(.send(digestMessage(isReply: false), to: peer.meta.endpoint))
            }
        }
        return directives
    }

    func registryMessage(wantsReply: Bool) -> Message {
        .agents(from: me, replyTo: view[me.name]?.meta.endpoint ?? "", wantsReply: wantsReply,
                records: records.values.sorted { $0.name < $1.name })
    }

    // MARK: Shared steps

    /// Replaces a record with a newer version written by this node and tells everyone.
    mutating func write(_ record: AgentRecord, into directives: inout [AgentDirective]) {
        var record = record
        let previous = records[record.name]
        if let previous, previous.generation == record.generation {
            previous.state.assertTransition(to: record.state, of: record.name)
            // At the top a version stays put (ties then go by writer): a peer's record at
            // `counterMax` must not make this node trap when its agent exits.
            record.version = previous.version.incremented(below: WireCodec.counterMax) ?? WireCodec.counterMax
        }
        record.updatedBy = me.name
        record.signature = nodeVerifier.sign(NodeStatement.agentRecord(record))
        records[record.name] = record
        directives.append(.changed(record, previous: previous))
        publish([record], into: &directives)
    }

    func publish(_ changed: [AgentRecord], into directives: inout [AgentDirective]) {
        let endpoint = view[me.name]?.meta.endpoint ?? ""
        for member in aliveOthers {
            directives.append(.send(.agents(from: me, replyTo: endpoint, wantsReply: false, records: changed),
                                    to: member.meta.endpoint))
        }
    }

    func notifyGuardians(of name: String, _ event: AgentEvent, into directives: inout [AgentDirective]) {
        let names = guardians(of: name).map(\.name)
        if !names.isEmpty { directives.append(.notify(guardians: names, event)) }
    }
}
