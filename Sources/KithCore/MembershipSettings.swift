/// Timing and fan-out of the membership protocol.
///
/// Defaults are tuned for a LAN or one machine: a 200 ms probe period
/// detects a silent failure in about 1.3 s at 32 members, where memberlist's
/// 1 s period takes 7 s. Every field says why it has its value.
public struct MembershipSettings: Hashable, Sendable {
    /// How often this node probes one member (SWIM 4.3 round-robin).
    public var probeInterval: Duration = .milliseconds(200)
    /// How long a direct ping may go unanswered before indirect probes start.
    public var probeTimeout: Duration = .milliseconds(100)
    /// How many members probe on our behalf after a missed ack (SWIM's k).
    public var indirectProbes: Int = 3
    /// A rumour is piggybacked `retransmitMultiplier * ceil(log10(N + 1))`
    /// times (SWIM's λ log N), enough to reach everyone with high probability.
    public var retransmitMultiplier: Int = 4
    /// At most this many rumours ride on one message.
    public var maxPiggyback: Int = 24
    /// Minimum suspicion is `suspicionMultiplier * log10(N + 1) * probeInterval`:
    /// long enough for a suspected member to hear and refute (Lifeguard IV.B).
    /// `suspicionMultiplier - 2` independent confirmations bring a suspicion
    /// down to it (memberlist's k). 3 (0.91 s at 32 members, one confirmation)
    /// since refutations and verdicts go to every member at once: 4 waited
    /// 1.2 s, and without those messages even 4 let 5% loss kill a live
    /// member in about one 60 s run in ten (`kith-detect-bench loss`).
    public var suspicionMultiplier: Double = 3
    /// Suspicion starts at `suspicionMaxMultiplier` times the minimum and
    /// shrinks towards it as independent confirmations arrive (Lifeguard IV.B).
    public var suspicionMaxMultiplier: Double = 6
    /// After a refused connection (no process listens at the member's
    /// address) suspicion lasts only this long: a refusal is hard evidence,
    /// unlike silence, and TCP gives it at once when a process dies.
    public var refusedSuspicionTimeout: Duration = .milliseconds(300)
    /// Period of full state exchange with one random member; scaled up
    /// beyond 32 members so the cost per node stays flat.
    public var pushPullInterval: Duration = .seconds(15)
    /// For this long after start (and after first joining), push-pull runs
    /// every `joinSyncInterval` instead: 64 daemons started together then
    /// converge in a few anti-entropy rounds, not one long period.
    public var joinSyncWindow: Duration = .seconds(5)
    public var joinSyncInterval: Duration = .milliseconds(500)
    /// How often to retry seeds until one answers, and to retry them
    /// whenever no other member is alive.
    public var joinRetryInterval: Duration = .milliseconds(500)
    /// How often to try a push-pull with one dead member, so that the two
    /// sides of a healed partition find each other again.
    public var reconnectInterval: Duration = .seconds(1)
    /// How long dead and left members stay listed before they are forgotten.
    public var deadRetention: Duration = .seconds(600)
    /// Upper bound of Lifeguard's local health multiplier (IV.A); timeouts
    /// stretch up to `(maxLocalHealth + 1)` times when this node is slow.
    public var maxLocalHealth: Int = 8
    /// The most members (this node included, dead and left ones too) the
    /// table holds: a new name beyond it is ignored until the dead are
    /// reaped. 10,000 members push-pull in about 600 KB, well inside a frame.
    public var membersMax: Int = 10_000
    /// The most names one frame (a push-pull or a ping's rumours) may add to
    /// the table; the rest are learned in later rounds. A burst of joins
    /// still converges in a few rounds, while one forged frame cannot fill
    /// the table.
    public var newMembersPerFrameMax: Int = 256
    /// Ping-reqs this node relays at once; more are dropped, so a flood of
    /// ping-reqs cannot grow memory.
    public var relaysMax: Int = 1024

    public init() {}

    /// LAN and single-machine labs: the defaults.
    public static let lan = MembershipSettings()

    /// Across regions: slower probes, longer suspicion, like memberlist's WAN preset.
    public static var wan: MembershipSettings {
        var s = MembershipSettings()
        s.probeInterval = .seconds(3)            // round trips of 100-300 ms need room
        s.probeTimeout = .seconds(2)
        s.suspicionMultiplier = 6                // tolerate congestion before declaring dead
        s.pushPullInterval = .seconds(60)
        s.reconnectInterval = .seconds(5)
        return s
    }

    /// Readable problems, empty when the settings are usable.
    public func validate() -> [String] {
        var problems: [String] = []
        if probeInterval <= .zero { problems.append("probe_interval_ms must be positive") }
        if probeTimeout <= .zero { problems.append("probe_timeout_ms must be positive") }
        if probeTimeout >= probeInterval { problems.append("probe_timeout_ms must be shorter than probe_interval_ms") }
        if !(0...16).contains(indirectProbes) { problems.append("indirect_probes must be 0...16") }
        if !(1...64).contains(retransmitMultiplier) { problems.append("retransmit_multiplier must be 1...64") }
        if !(1...256).contains(maxPiggyback) { problems.append("max_piggyback must be 1...256") }
        if !(suspicionMultiplier >= 1 && suspicionMultiplier <= 100) { problems.append("suspicion_multiplier must be 1...100") }
        if !(suspicionMaxMultiplier >= 1 && suspicionMaxMultiplier <= 100) { problems.append("suspicion_max_multiplier must be 1...100") }
        if refusedSuspicionTimeout <= .zero { problems.append("refused_suspicion_ms must be positive") }
        if pushPullInterval <= .zero { problems.append("push_pull_interval_ms must be positive") }
        if joinSyncWindow < .zero { problems.append("join_sync_window_ms must not be negative") }
        if joinSyncInterval <= .zero { problems.append("join_sync_interval_ms must be positive") }
        if joinRetryInterval <= .zero { problems.append("join_retry_ms must be positive") }
        if reconnectInterval <= .zero { problems.append("reconnect_interval_ms must be positive") }
        if deadRetention <= .zero { problems.append("dead_retention_ms must be positive") }
        if !(0...64).contains(maxLocalHealth) { problems.append("max_local_health must be 0...64") }
        if !(1...WireCodec.maxStates).contains(membersMax) { problems.append("members_max must be 1...\(WireCodec.maxStates)") }
        if newMembersPerFrameMax < 1 { problems.append("new_members_per_frame_max must be positive") }
        if relaysMax < 0 { problems.append("relays_max must not be negative") }
        return problems
    }
}
