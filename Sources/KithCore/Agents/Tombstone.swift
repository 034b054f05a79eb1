/// The operator's standing verdict on one agent: durable, spread to every
/// node, and stronger than any generation. A kill-switch ends the agent; a
/// quarantine freezes it where it is (kept for inspection, never relaunched);
/// a lifted tombstone (a revive or a release) records that the verdict was
/// withdrawn. All three share one slot per agent and one order (`supersedes`),
/// so a later verdict always replaces an earlier one and tombstones are never dropped.
public struct Tombstone: Hashable, Sendable {
    /// What the operator decided. At equal epochs the stronger kind wins.
    public enum Kind: UInt8, Hashable, Sendable, Comparable {
        /// A revive or release: nothing holds the agent any more.
        case lifted = 0
        case killSwitch = 1
        case quarantine = 2

        /// Safety order at one epoch: a kill-switch beats a quarantine, which beats a lift.
        var strength: Int {
            switch self {
            case .lifted: 0
            case .quarantine: 1
            case .killSwitch: 2
            }
        }

        public static func < (a: Kind, b: Kind) -> Bool { a.strength < b.strength }

        /// How tombstones.json and the control protocol spell it.
        public var name: String {
            switch self {
            case .lifted: "lifted"
            case .killSwitch: "kill_switch"
            case .quarantine: "quarantine"
            }
        }

        public init?(name: String) {
            guard let kind = [Kind.lifted, .killSwitch, .quarantine].first(where: { $0.name == name }) else { return nil }
            self = kind
        }
    }

    public var agent: String
    /// The operator's epoch when it was issued; a higher epoch replaces a lower one.
    public var epoch: UInt64
    public var kind: Kind
    /// True for a kill-switch.
    public var active: Bool { kind == .killSwitch }
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

    /// The operator's signed `kill_switch`, `quarantine`, or `revive` /
    /// `release` (lifted) naming this agent at exactly this epoch: every node
    /// checks it before adopting the tombstone, so no peer can forge or inflate one.
    public var proof: OperatorProof?

    public init(agent: String, epoch: UInt64, kind: Kind, reason: String, issuedBy: String, proof: OperatorProof? = nil) {
        self.agent = agent
        self.epoch = epoch
        self.kind = kind
        self.reason = reason.clipped(toUTF8Bytes: WireCodec.maxStringBytes)
        self.issuedBy = issuedBy.clipped(toUTF8Bytes: WireCodec.maxStringBytes)
        self.proof = proof
    }

    /// A kill-switch (`active`) or its revive.
    public init(agent: String, epoch: UInt64, active: Bool, reason: String, issuedBy: String, proof: OperatorProof? = nil) {
        self.init(agent: agent, epoch: epoch, kind: active ? .killSwitch : .lifted, reason: reason, issuedBy: issuedBy,
                  proof: proof)
    }

    /// Higher epoch wins; at the same epoch the stronger kind wins (safety first).
    public func supersedes(_ other: Tombstone) -> Bool { digest.supersedes(other.digest) }
}
