/// The operator's kill-switch for one agent: durable, spread to every node,
/// and stronger than any generation. Only a revive at a higher epoch (an
/// inactive tombstone) lifts it; tombstones are never dropped.
public struct Tombstone: Hashable, Sendable {
    public var agent: String
    /// The operator's epoch when it was issued; a higher epoch replaces a lower one.
    public var epoch: UInt64
    /// True for a kill-switch, false for the revive that lifted it.
    public var active: Bool
    public var reason: String
    /// Which operator key signed it (a short fingerprint).
    public var issuedBy: String

    public init(agent: String, epoch: UInt64, active: Bool, reason: String, issuedBy: String) {
        self.agent = agent
        self.epoch = epoch
        self.active = active
        self.reason = reason
        self.issuedBy = issuedBy
    }

    /// Higher epoch wins; at the same epoch an active switch wins (safety first).
    public func supersedes(_ other: Tombstone) -> Bool {
        epoch != other.epoch ? epoch > other.epoch : (active && !other.active)
    }
}
