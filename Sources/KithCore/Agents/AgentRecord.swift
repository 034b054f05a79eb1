/// An agent's lifecycle as the cluster sees it.
///
/// - starting → running (the process said hello) → stopped (operator) or
///   lost (its host died and nobody relaunches it)
/// - running / starting → starting (a local restart after an exit)
/// - running / starting → relaunching (local restart limit exceeded: handed
///   elsewhere) or failed (handed elsewhere too often)
/// - lost → running / starting (its host refutes: it was alive all along)
/// - relaunching / lost → a new record at generation + 1, starting elsewhere
/// - any but failed and stopped → killed (the operator's kill-switch)
/// - running / starting → quarantined (the operator's quarantine: its
///   processes are frozen, kept, and never relaunched) → running (released)
///   or killed (kill-switch); nothing else moves it
/// - stopped, failed, killed: final for the generation; only a new
///   generation (operator start, revive, guardians' relaunch) moves on.
/// `canBecome(_:)` encodes this list; a node writing any other transition
/// within one generation fails loudly in debug builds.
public enum AgentState: String, Hashable, Sendable, CaseIterable {
    case starting, running, lost, relaunching, stopped, failed, killed, quarantined

    /// States that need a process somewhere.
    public var wantsProcess: Bool { self == .starting || self == .running }
    /// Final for a generation: beats any concurrent update of the same generation.
    public var isTerminal: Bool { self == .stopped || self == .failed || self == .killed }
}

/// One agent's row in the cluster-wide registry, gossiped between nodes.
///
/// Conflicts resolve deterministically (`supersedes`): higher generation
/// wins; within a generation a terminal state wins, then the higher host
/// name (two copies started in split views: the lower node's is stopped),
/// then the higher version, then the writer's name, so every node
/// converges on one record.
public struct AgentRecord: Hashable, Sendable {
    public var spec: AgentSpec
    /// Bumped on every relaunch or fresh start; a copy with a lower
    /// generation is a duplicate to stop.
    public var generation: UInt64
    /// Bumped on every update within a generation.
    public var version: UInt64
    /// The node that runs (or last ran) it, and that boot's uid: a record
    /// naming an earlier boot of a node is as good as lost.
    public var host: String
    public var hostUID: UInt64
    public var pid: Int32
    public var state: AgentState
    /// Local restarts in this generation.
    public var restarts: UInt32
    /// Moves to another node caused by crash loops, over all generations.
    public var handoffs: UInt32
    /// Why the record is in its state. Built from free text (an exit status,
    /// an operator's kill-switch reason), so it is clipped to the wire's
    /// string limit whenever it is set: a record always encodes.
    public var reason: String {
        didSet { if reason.utf8.count > WireCodec.maxStringBytes { reason = reason.clipped(toUTF8Bytes: WireCodec.maxStringBytes) } }
    }
    /// The node that wrote this version (ties between concurrent writers).
    public var updatedBy: String
    /// The operator's signed `agent_start` that granted exactly `spec`; kept
    /// through every relaunch (a node changes only generation, host and
    /// state). Nil for a config-file agent, which only a node whose own
    /// config lists the identical spec runs.
    public var authorization: OperatorProof?
    /// The operator's signed `agent_stop` that made this generation stopped,
    /// carried so that every node checks the stop was asked for; nil in any
    /// other state, and dropped at the next generation.
    public var stopProof: OperatorProof?
    /// The writer's node signature over `NodeStatement.agentRecord(self)`:
    /// a host speaks for its own agents, a node that took an operator's
    /// start or stop for the record it wrote. Empty on the records every node
    /// computes alike (lost, killed, quarantined, released), which receivers
    /// recompute instead of trusting (see `AgentRegistry.voiceProblem`).
    public var signature: [UInt8]

    public init(spec: AgentSpec, generation: UInt64, version: UInt64 = 0, host: String, hostUID: UInt64,
                pid: Int32 = 0, state: AgentState, restarts: UInt32 = 0, handoffs: UInt32 = 0,
                reason: String = "", updatedBy: String, authorization: OperatorProof? = nil,
                stopProof: OperatorProof? = nil, signature: [UInt8] = []) {
        self.spec = spec
        self.generation = generation
        self.version = version
        self.host = host
        self.hostUID = hostUID
        self.pid = pid
        self.state = state
        self.restarts = restarts
        self.handoffs = handoffs
        self.reason = reason.clipped(toUTF8Bytes: WireCodec.maxStringBytes)
        self.updatedBy = updatedBy
        self.authorization = authorization
        self.stopProof = stopProof
        self.signature = signature
    }

    public var name: String { spec.name }

    /// The merge rule: true when `self` should replace `other`. It reads only
    /// the fields a `RecordDigest` carries, so anti-entropy can compare digests.
    public func supersedes(_ other: AgentRecord) -> Bool { digest.supersedes(other.digest) }
}
