#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The membership protocol of one node: SWIM with Lifeguard, plus push-pull.
///
/// An Instance in the sense of swift-cluster-membership: a value type that
/// performs no IO. Each input (`start`, `receive`, `tick`, `peerRefused`,
/// `leave`) takes `now` and returns directives for the shell. Randomness comes
/// from a seeded generator, so a simulator replays a run bit for bit. The
/// shell calls `tick` when `nextDeadline` passes: every timeout is an input.
public struct Membership: Sendable {
    public let me: NodeID
    public internal(set) var meta: NodeMeta
    public let settings: MembershipSettings
    public internal(set) var incarnation: UInt32 = 0
    /// The incarnation of the last suspicion of this node it refuted: a dead
    /// verdict at that incarnation arriving after the refutation means a
    /// member buried this node before hearing it (see `refuteIfNeeded`).
    var refutedSuspicion: UInt32?
    /// Lifeguard's local health multiplier (IV.A): 0 is healthy; each step
    /// stretches this node's probe timeouts by one more probe period.
    public internal(set) var localHealth: Int = 0
    /// False until some member answered, after which seeds are no longer needed.
    public internal(set) var hasJoined = false
    public internal(set) var hasLeft = false

    var table = MemberTable()
    /// Checks members' keys, certificates and signatures (see `NodeVerifier`).
    public let verifier: any NodeVerifier
    /// The key accepted for each name, kept after the member is forgotten:
    /// only a valid certificate replaces it (a cluster without certificates
    /// keeps the first key it saw, trust on first use).
    public internal(set) var pinnedKeys: [String: [UInt8]] = [:]
    /// Rumours and states refused because they were not the member's own word
    /// (a `left` without its signature, a key without a valid certificate).
    public internal(set) var forgedRefused: UInt64 = 0
    /// The sender of the message being received, for refusal reports.
    var sender = ""
    var suspicions: [String: Suspicion] = [:]
    var broadcasts = Broadcasts()
    var rng: SeededRandom
    let seeds: [Endpoint]

    var probe: Probe?
    var probeOrder: [String] = []
    var probeIndex = 0
    var relays: [UInt32: Relay] = [:]
    var nextSeq: UInt32 = 1
    /// New member names the frame being received added so far (at most `newMembersPerFrameMax`).
    var newMembersThisFrame = 0

    var nextProbeAt: Instant
    var nextPushPullAt: Instant
    var nextJoinAt: Instant
    var nextReconnectAt: Instant
    var nextReapAt: Instant
    /// Until then, push-pull runs every `joinSyncInterval`: a burst of joins
    /// converges by anti-entropy in a few rounds instead of a long period.
    var joinSyncUntil: Instant

    /// One probe of one member in flight (SWIM 4.1 protocol period).
    struct Probe: Sendable {
        var target: NodeID
        var seq: UInt32
        var indirectAt: Instant
        var deadline: Instant
        var indirectSent = false
        var expectedNacks = 0
        var nacks = 0
    }

    /// A ping this node sends on another's behalf (ping-req relay).
    struct Relay: Sendable {
        var originSeq: UInt32
        var origin: Endpoint
        var nackAt: Instant
        var expiresAt: Instant
        var nackSent = false

        var nextDeadline: Instant { nackSent ? expiresAt : nackAt }
    }

    /// `verifier` defaults to the simulated one (`TagNodeVerifier`); the
    /// node's key and certificate come from it into `meta`.
    public init(me: NodeID, meta: NodeMeta, seeds: [Endpoint], settings: MembershipSettings = .lan,
                randomSeed: UInt64, verifier: (any NodeVerifier)? = nil, now: Instant) {
        self.me = me
        let verifier = verifier ?? TagNodeVerifier(name: me.name)
        self.verifier = verifier
        var meta = meta
        (meta.key, meta.certificate) = verifier.credential
        self.meta = meta
        pinnedKeys[me.name] = meta.key
        self.settings = settings
        self.seeds = seeds.filter { $0 != meta.endpoint }
        self.rng = SeededRandom(seed: randomSeed)
        table[me.name] = Member(id: me, meta: meta, status: .alive, incarnation: 0, changedAt: now)
        // Announce ourselves on every early message, so a member that hears from us learns us at once.
        broadcasts.enqueue(.alive(me, incarnation: 0, meta: meta))
        // Spread the first probe over one period so nodes started together do not probe in lock-step.
        let jitter = Duration.nanoseconds(Int64(rng.next() % UInt64(max(1, settings.probeInterval.nanoseconds))))
        nextProbeAt = now + jitter
        joinSyncUntil = now + settings.joinSyncWindow
        nextPushPullAt = now + (settings.joinSyncWindow > .zero ? settings.joinSyncInterval : settings.pushPullInterval)
        nextJoinAt = now
        nextReconnectAt = now + settings.reconnectInterval
        nextReapAt = now + settings.reconnectInterval
    }

    // MARK: Reading

    /// Every known member, this node included, sorted by name.
    public var members: [Member] { table.values.sorted { $0.id.name < $1.id.name } }


    public func member(named name: String) -> Member? { table[name] }

    /// The member at `endpoint`. Several records may share an endpoint (a
    /// dead boot, a renamed node): a live one is preferred.
    public func member(at endpoint: Endpoint) -> Member? {
        var match: Member?
        for member in table.rows where member.meta.endpoint == endpoint {
            if member.status.isActive { return member }
            if match == nil { match = member }
        }
        return match
    }

    /// Members other than this one that are alive or suspect.
    var activeOthers: [Member] {
        table.values.filter { $0.id != me && $0.status.isActive }
    }

    /// The members counted for λ log N and the suspicion bounds (alive or suspect, this node included).
    var clusterSize: Int { table.activeCount }

    /// When the shell must call `tick` next; nil once the node has left.
    public var nextDeadline: Instant? {
        guard !hasLeft else { return nil }
        var next = min(nextProbeAt, nextPushPullAt, nextReconnectAt, nextReapAt)
        if needsSeeds { next = min(next, nextJoinAt) }
        if let probe { next = min(next, probe.indirectSent ? probe.deadline : probe.indirectAt) }
        for relay in relays.values { next = min(next, relay.nextDeadline) }
        for suspicion in suspicions.values { next = min(next, suspicion.deadline) }
        return next
    }

    /// Read after every input (`nextDeadline`): a count, not a walk of the table.
    var needsSeeds: Bool {
        !seeds.isEmpty && (!hasJoined || table.activeCount - (table[me.name]?.status.isActive == true ? 1 : 0) == 0)
    }

    /// Health-scaled duration (Lifeguard IV.A): a slow node waits longer
    /// before blaming others.
    func scaled(_ d: Duration) -> Duration { d.scaled(by: Double(localHealth + 1)) }

    var retransmitLimit: Int {
        settings.retransmitMultiplier * Int(ceil(log10(Double(clusterSize + 1))))
    }

    mutating func adjustHealth(_ delta: Int) {
        localHealth = min(settings.maxLocalHealth, max(0, localHealth + delta))
    }

    /// ±10% so that nodes started together do not push-pull and reconnect in lock-step.
    mutating func jittered(_ d: Duration) -> Duration {
        d.scaled(by: 0.9 + 0.2 * Double(rng.next() % 1_000_001) / 1_000_000)
    }

    mutating func randomIndex(below n: Int) -> Int {
        Int(rng.next() % UInt64(n))
    }

    /// One member that passes `isWanted`, drawn uniformly: a few draws from
    /// the whole table (O(1) when most rows qualify, as in a large live
    /// cluster), else one draw among those that qualify.
    mutating func randomMember(where isWanted: (Member) -> Bool) -> Member? {
        guard !table.rows.isEmpty else { return nil }
        for _ in 0..<Self.drawsBeforeScan {
            let member = table.rows[randomIndex(below: table.rows.count)]
            if isWanted(member) { return member }
        }
        let wanted = table.rows.filter(isWanted)
        return wanted.isEmpty ? nil : wanted[randomIndex(below: wanted.count)]
    }

    /// Rejected random draws before a walk of the table (at most 1 in 2^8 walks when half the rows qualify).
    static let drawsBeforeScan = 8

    // MARK: Inputs

    /// Begins the protocol: contacts the seeds.
    public mutating func start(now: Instant) -> [MembershipDirective] {
        tick(now: now)
    }

    /// Runs every timer that is due at `now`.
    public mutating func tick(now: Instant) -> [MembershipDirective] {
        guard !hasLeft else { return [] }
        defer { assertInvariants() }
        var directives: [MembershipDirective] = []
        expireRelays(now: now, into: &directives)
        advanceProbe(now: now, into: &directives)
        // Last: a failed probe above may have confirmed a suspicion and pulled its deadline in.
        expireSuspicions(now: now, into: &directives)
        if needsSeeds && now >= nextJoinAt {
            nextJoinAt = now + settings.joinRetryInterval
            for seed in seeds { directives.append(.send(pushPull(isReply: false, isJoin: true), to: seed)) }
        }
        if now >= nextPushPullAt {
            let period = now < joinSyncUntil ? settings.joinSyncInterval : pushPullPeriod
            nextPushPullAt = now + jittered(period)
            if let peer = randomMember(where: { [me] in $0.id != me && $0.status.isActive }) {
                directives.append(.send(pushPull(isReply: false, isJoin: false), to: peer.meta.endpoint))
            }
        }
        if now >= nextReconnectAt {
            nextReconnectAt = now + jittered(settings.reconnectInterval)
            reconnectToOneDead(into: &directives)
        }
        if now >= nextReapAt {
            nextReapAt = now + settings.reconnectInterval
            reap(now: now, into: &directives)
        }
        return directives
    }

    /// Handles one message from another daemon.
    public mutating func receive(_ message: Message, now: Instant) -> [MembershipDirective] {
        guard !hasLeft else { return [] }
        defer { assertInvariants() }
        newMembersThisFrame = 0
        sender = message.sender
        var directives: [MembershipDirective] = []
        switch message {
        case let .ping(seq, from, replyTo, target, gossip):
            apply(gossip, now: now, into: &directives)
            syncIfUnknown(from, at: replyTo, into: &directives)
            // A ping for an earlier boot of this name goes unanswered: that boot is dead.
            guard target == me, from != me else { break }
            directives.append(.send(.ack(seq: seq, from: me, gossip: piggyback()), to: replyTo))
        case let .pingReq(seq, from, replyTo, target, targetEndpoint, gossip):
            apply(gossip, now: now, into: &directives)
            guard from != me, target != me else { break }
            relay(seq: seq, origin: replyTo, target: target, targetEndpoint: targetEndpoint, now: now, into: &directives)
        case let .ack(seq, from, gossip):
            apply(gossip, now: now, into: &directives)
            handleAck(seq: seq, from: from, into: &directives)
        case let .nack(seq, _):
            // Each asked helper nacks at most once: more nacks than helpers are forged or duplicated.
            if var current = probe, current.seq == seq, current.nacks < current.expectedNacks {
                current.nacks += 1
                probe = current
            }
        case let .pushPull(from, replyTo, isReply, _, states):
            guard from != me else { break }
            if !hasJoined { joinSyncUntil = now + settings.joinSyncWindow }
            hasJoined = true
            merge(states, from: from, now: now, into: &directives)
            if !isReply { directives.append(.send(pushPull(isReply: true, isJoin: false), to: replyTo)) }
        case .agents, .agentDigest, .checkpoint, .checkpointAck, .checkpointFetch, .checkpointOffer, .agentMessage, .agentAck, .relaunchRequest, .tombstones:
            break  // the agent layer's
        }
        return directives
    }

    /// The shell could not connect to `endpoint`: nothing listens there, so the
    /// process is gone. Hard evidence, so the suspicion is short.
    public mutating func peerRefused(_ endpoint: Endpoint, now: Instant) -> [MembershipDirective] {
        guard !hasLeft, let member = member(at: endpoint), member.status.isActive, member.id != me else { return [] }
        defer { assertInvariants() }
        var directives: [MembershipDirective] = []
        let short = settings.refusedSuspicionTimeout
        if member.status == .alive {
            suspect(member.id, incarnation: member.incarnation, by: me.name, now: now,
                    bounds: (short, short), into: &directives)
        } else if var suspicion = suspicions[member.id.name], suspicion.deadline > now + short {
            suspicion.minimum = now.since(suspicion.startedAt) + short
            suspicion.maximum = suspicion.minimum
            suspicions[member.id.name] = suspicion
        }
        return directives
    }

    /// Graceful goodbye: tells every active member this node left, so they
    /// record *left*, not *dead*. After this every input is ignored.
    public mutating func leave(now: Instant) -> [MembershipDirective] {
        guard !hasLeft else { return [] }
        defer { assertInvariants() }
        incarnation = incarnation == .max ? .max : incarnation + 1
        let signature = verifier.sign(NodeStatement.left(me))
        let goodbye = Gossip.left(me, incarnation: incarnation, signature: signature)
        var directives: [MembershipDirective] = []
        setStatus(of: me, to: .left, incarnation: incarnation, meta: meta, leftSignature: signature, now: now,
                  into: &directives)
        // An ack with seq 0 answers no probe: it only carries rumours.
        for member in activeOthers.sorted(by: { $0.id < $1.id }) {
            directives.append(.send(.ack(seq: 0, from: me, gossip: [goodbye]), to: member.meta.endpoint))
        }
        hasLeft = true
        return directives
    }

    // MARK: Shared steps

    /// A probe from a boot we have never heard of: swap state with it, so
    /// that a lost join reply or a missed rumour costs one round trip, not a
    /// push-pull period.
    mutating func syncIfUnknown(_ sender: NodeID, at endpoint: Endpoint, into directives: inout [MembershipDirective]) {
        guard sender != me, (table[sender.name]?.id.uid ?? 0) < sender.uid else { return }
        directives.append(.send(pushPull(isReply: false, isJoin: false), to: endpoint))
    }

    /// Records a status change and reports it. `leftSignature` is the member's own goodbye, for `left`.
    mutating func setStatus(of id: NodeID, to status: MemberStatus, incarnation: UInt32, meta: NodeMeta,
                            leftSignature: [UInt8] = [], now: Instant, into directives: inout [MembershipDirective]) {
        let previous = table[id.name]
        let samePrevious = previous?.id == id ? previous : nil
        if let samePrevious {
            samePrevious.status.assertTransition(to: status, of: id)
        }
        var changedAt = now
        if let samePrevious, samePrevious.status == status { changedAt = samePrevious.changedAt }
        let member = Member(id: id, meta: meta, status: status, incarnation: incarnation, changedAt: changedAt,
                            leftSignature: status == .left ? leftSignature : [])
        table[id.name] = member
        if status != .suspect { suspicions[id.name] = nil }
        if samePrevious?.status != status {
            directives.append(.memberChanged(member, previous: samePrevious?.status))
        } else {
            directives.append(.memberUpdated(member))
        }
    }

    /// Rumours for one outgoing message.
    mutating func piggyback(first: String? = nil) -> [Gossip] {
        broadcasts.take(limit: settings.maxPiggyback, retransmitLimit: max(1, retransmitLimit), first: first)
    }

    mutating func takeSeq() -> UInt32 {
        nextSeq = nextSeq == .max ? 1 : nextSeq + 1
        return nextSeq
    }
}
