/// The operator's kill-switch for one agent: durable, spread to every node,
/// and stronger than any generation. Only a revive at a higher epoch (an
/// inactive tombstone) lifts it; tombstones are never dropped.
public struct Tombstone: Hashable, Sendable {
    public var agent: String
    /// The operator's epoch when it was issued; a higher epoch replaces a lower one.
    public var epoch: UInt64
    /// True for a kill-switch, false for the revive that lifted it.
    public var active: Bool
    /// The operator's free text, clipped to the wire's string limit where
    /// the tombstone is made: a 64 KiB reason must not make every later sync
    /// frame undecodable.
    public var reason: String {
        didSet { if reason.utf8.count > WireCodec.maxStringBytes { reason = reason.clipped(toUTF8Bytes: WireCodec.maxStringBytes) } }
    }
    /// Which operator key signed it (a short fingerprint), clipped like `reason`.
    public var issuedBy: String {
        didSet { if issuedBy.utf8.count > WireCodec.maxStringBytes { issuedBy = issuedBy.clipped(toUTF8Bytes: WireCodec.maxStringBytes) } }
    }

    /// The operator's signed `kill_switch` (active) or `revive` (inactive)
    /// naming this agent at exactly this epoch: every node checks it before
    /// adopting the tombstone, so no peer can forge or inflate one.
    public var proof: OperatorProof?

    public init(agent: String, epoch: UInt64, active: Bool, reason: String, issuedBy: String, proof: OperatorProof? = nil) {
        self.agent = agent
        self.epoch = epoch
        self.active = active
        self.reason = reason.clipped(toUTF8Bytes: WireCodec.maxStringBytes)
        self.issuedBy = issuedBy.clipped(toUTF8Bytes: WireCodec.maxStringBytes)
        self.proof = proof
    }

    /// Higher epoch wins; at the same epoch an active switch wins (safety first).
    public func supersedes(_ other: Tombstone) -> Bool {
        epoch != other.epoch ? epoch > other.epoch : (active && !other.active)
    }
}
