/// The simulated operator: a proof is valid when its signature is a
/// deterministic tag (64-bit FNV-1a, keyed by `secret`) of its bytes, which
/// encode the grant in the wire format. No cryptographic strength: it lets
/// simulations and unit tests exercise exactly the checks the daemon makes
/// (a forged, altered or mismatched proof is refused) without a clock,
/// randomness or libsodium in the core.
public struct TagAuthorizer: AgentAuthorizer {
    public let secret: UInt64
    public static let key = Array("sim-operator".utf8)

    public init(secret: UInt64 = 0x6b69_7468) { self.secret = secret }

    public func grant(of proof: OperatorProof) -> Result<OperatorGrant, AgentError> {
        guard proof.key == TagAuthorizer.key else { return .failure(AgentError("operator key is not trusted")) }
        guard proof.signature == tag(proof.signed) else { return .failure(AgentError("bad signature")) }
        var r = ByteReader(proof.signed[...])
        do throws(DecodeError) {
            let grant: OperatorGrant
            switch try r.u8() {
            case 0: grant = .start(try WireCodec.readAgentSpec(&r))
            case let kind where (1...4).contains(kind):
                var agents: [String] = []
                for _ in 0..<(try r.count(max: WireCodec.maxAgentRecords)) { agents.append(try WireCodec.readAgentName(&r)) }
                let epoch = try r.varint(max: WireCodec.counterMax)
                switch kind {
                case 1: grant = .killSwitch(agents: agents, epoch: epoch)
                case 2: grant = .revive(agents: agents, epoch: epoch)
                case 3: grant = .quarantine(agents: agents, epoch: epoch)
                default: grant = .release(agents: agents, epoch: epoch)
                }
            case 5: grant = .stop(agent: try WireCodec.readAgentName(&r))
            case let kind: throw DecodeError("unknown grant \(kind)")
            }
            guard r.isAtEnd else { throw DecodeError("trailing bytes") }
            return .success(grant)
        } catch {
            return .failure(AgentError("unreadable grant: \(error)"))
        }
    }

    public func mint(_ grant: OperatorGrant) -> OperatorProof? {
        var w = ByteWriter()
        switch grant {
        case .start(let spec):
            w.u8(0)
            WireCodec.write(spec, to: &w)
        case .stop(let agent):
            w.u8(5)
            w.string(agent, maxBytes: WireCodec.maxAgentNameBytes)
        case let .killSwitch(agents, epoch), let .revive(agents, epoch), let .quarantine(agents, epoch),
             let .release(agents, epoch):
            switch grant {
            case .killSwitch: w.u8(1)
            case .revive: w.u8(2)
            case .quarantine: w.u8(3)
            default: w.u8(4)
            }
            w.count(agents.count, max: WireCodec.maxAgentRecords)
            for agent in agents { w.string(agent, maxBytes: WireCodec.maxAgentNameBytes) }
            w.varint(epoch, max: WireCodec.counterMax)
        }
        return OperatorProof(key: TagAuthorizer.key, signature: tag(w.bytes), signed: w.bytes)
    }

    func tag(_ bytes: [UInt8]) -> [UInt8] {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ secret
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return (0..<8).map { UInt8(truncatingIfNeeded: hash >> (56 - 8 * $0)) }
    }
}
