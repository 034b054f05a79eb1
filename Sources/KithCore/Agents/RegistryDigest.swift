/// What anti-entropy compares of a record: the fields of the merge rule
/// (`supersedes`) and nothing else. No spec, no proof: a digest says which
/// version a node holds and grants nothing; only a full record, with its
/// operator proof, is ever adopted.
public struct RecordDigest: Hashable, Sendable {
    public var name: String
    public var generation: UInt64
    public var version: UInt64
    public var state: AgentState
    public var host: String
    public var updatedBy: String

    public init(name: String, generation: UInt64, version: UInt64, state: AgentState, host: String, updatedBy: String) {
        self.name = name
        self.generation = generation
        self.version = version
        self.state = state
        self.host = host
        self.updatedBy = updatedBy
    }

    /// The merge rule (see `AgentRecord`): higher generation, then a terminal
    /// state, then the higher host, then the higher version, then the writer.
    public func supersedes(_ other: RecordDigest) -> Bool {
        if generation != other.generation { return generation > other.generation }
        if state.isTerminal != other.state.isTerminal { return state.isTerminal }
        if host != other.host { return host > other.host }
        if version != other.version { return version > other.version }
        return updatedBy > other.updatedBy
    }
}

/// What anti-entropy compares of a tombstone: its merge rule's fields, without reason or proof.
public struct TombstoneDigest: Hashable, Sendable {
    public var agent: String
    public var epoch: UInt64
    public var kind: Tombstone.Kind

    public init(agent: String, epoch: UInt64, kind: Tombstone.Kind) {
        self.agent = agent
        self.epoch = epoch
        self.kind = kind
    }

    /// Higher epoch wins; at the same epoch the stronger kind wins (safety first).
    public func supersedes(_ other: TombstoneDigest) -> Bool {
        epoch != other.epoch ? epoch > other.epoch : kind > other.kind
    }
}

extension AgentRecord {
    public var digest: RecordDigest {
        RecordDigest(name: name, generation: generation, version: version, state: state, host: host, updatedBy: updatedBy)
    }
}

extension Tombstone {
    public var digest: TombstoneDigest { TombstoneDigest(agent: agent, epoch: epoch, kind: kind) }
}
