/// An operator's signed request, carried with the record or tombstone it
/// created so that every node can check, where it acts on it, that an
/// operator asked for exactly this: the gossip port grants no power.
///
/// The bytes are opaque to the core: `signed` is what the signature covers
/// (for the daemon, the canonical JSON of the control request without
/// `auth.sig`), and an injected `AgentAuthorizer` decides what it grants.
public struct OperatorProof: Hashable, Sendable {
    /// The signer's public key.
    public var key: [UInt8]
    public var signature: [UInt8]
    /// The exact bytes the signature covers.
    public var signed: [UInt8]

    public init(key: [UInt8], signature: [UInt8], signed: [UInt8]) {
        self.key = key
        self.signature = signature
        self.signed = signed
    }

    /// Whether the proof fits the wire's limits (a request too large to carry is refused where it is made).
    public var fitsWire: Bool {
        key.count <= WireCodec.proofKeyBytesMax && signature.count <= WireCodec.proofSignatureBytesMax
            && signed.count <= WireCodec.proofSignedBytesMax
    }
}

/// What an operator's signed request grants the agent layer.
public enum OperatorGrant: Hashable, Sendable {
    /// Run this exact spec (any generation, any host).
    case start(AgentSpec)
    /// Switch these agents off at this epoch.
    case killSwitch(agents: [String], epoch: UInt64)
    /// Lift the switch of these agents at this epoch.
    case revive(agents: [String], epoch: UInt64)
    /// Quarantine these agents at this epoch.
    case quarantine(agents: [String], epoch: UInt64)
    /// Lift the quarantine of these agents at this epoch.
    case release(agents: [String], epoch: UInt64)
    /// Stop this agent (whichever generation runs).
    case stop(agent: String)
}

/// Checks operator proofs for the registry, so the core stays free of
/// cryptography: the daemon injects Ed25519 verification against its trusted
/// operator keys, simulations and tests a deterministic tag (`TagAuthorizer`).
public protocol AgentAuthorizer: Sendable {
    /// What a valid proof grants, or why it grants nothing.
    func grant(of proof: OperatorProof) -> Result<OperatorGrant, AgentError>
    /// A proof this authorizer itself vouches for, when it can make one
    /// (a simulated operator); nil where only an operator's key can sign.
    func mint(_ grant: OperatorGrant) -> OperatorProof?
}
