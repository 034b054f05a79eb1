/// Power flows from operator signatures, checked where it is used: before a
/// record from the wire is adopted, before this node spawns anything, and
/// before a tombstone is adopted or restored. The checks themselves are the
/// injected `AgentAuthorizer`'s; these are the rules around them.
extension AgentRegistry {
    /// Nil when `record` may replace `previous` here, else why not. A signed
    /// record's proof must grant exactly its spec (checked once per distinct
    /// proof: an unchanged one was checked when it was adopted). An unsigned
    /// record (a config agent) never replaces a signed one, and is refused
    /// outright when it names this node as host and this node does not vouch
    /// for the spec.
    func refusal(of record: AgentRecord, replacing previous: AgentRecord?) -> String? {
        guard let proof = record.authorization else {
            if previous?.authorization != nil { return "an unsigned record cannot replace an operator-signed one" }
            if record.host == me.name, vouchedSpecs[record.name] != record.spec {
                return "unsigned record hosted here, and this node's config does not list that spec"
            }
            return nil
        }
        if let previous, previous.authorization == proof, previous.spec == record.spec { return nil }
        return specProblem(record.spec, proof: proof)
    }

    /// Nil when `proof` grants exactly `spec`, else why not.
    func specProblem(_ spec: AgentSpec, proof: OperatorProof) -> String? {
        guard proof.fitsWire else { return "operator proof exceeds the wire's limits" }
        switch authorizer.grant(of: proof) {
        case .failure(let error): return error.message
        case .success(.start(let signed)): return signed == spec ? nil : "the spec differs from the one the operator signed"
        case .success: return "the operator's signature grants no agent start"
        }
    }

    /// Whether this node may run the record's process: a valid proof of its
    /// exact spec, or (unsigned) its own config's identical spec.
    func mayRun(_ record: AgentRecord) -> Bool {
        guard let proof = record.authorization else { return vouchedSpecs[record.name] == record.spec }
        return specProblem(record.spec, proof: proof) == nil
    }

    /// Nil when `tombstone` carries the operator's signed request of its kind
    /// (kill-switch, quarantine, or revive / release for a lifted one) naming
    /// its agent at exactly its epoch, else why not.
    func tombstoneProblem(_ tombstone: Tombstone) -> String? {
        guard let proof = tombstone.proof else { return "tombstone without the operator's signed request" }
        guard proof.fitsWire else { return "operator proof exceeds the wire's limits" }
        switch authorizer.grant(of: proof) {
        case .failure(let error):
            return error.message
        case let .success(.killSwitch(agents, epoch)) where tombstone.kind == .killSwitch,
             let .success(.quarantine(agents, epoch)) where tombstone.kind == .quarantine,
             let .success(.revive(agents, epoch)) where tombstone.kind == .lifted,
             let .success(.release(agents, epoch)) where tombstone.kind == .lifted:
            guard agents.contains(tombstone.agent) else { return "the signed request does not name \(tombstone.agent)" }
            return epoch == tombstone.epoch ? nil : "epoch \(tombstone.epoch) is not the signed epoch \(epoch)"
        case .success:
            switch tombstone.kind {
            case .killSwitch: return "the signed request is no kill-switch"
            case .quarantine: return "the signed request is no quarantine"
            case .lifted: return "the signed request is no revive or release"
            }
        }
    }

    /// The proof an operator command carries, or one the authorizer vouches
    /// for itself (a simulated operator); nil when there is neither.
    func proof(_ given: OperatorProof?, for grant: OperatorGrant) -> OperatorProof? {
        given ?? authorizer.mint(grant)
    }

    /// Nil when `checkpoint` of `agent` is its host's own, else why not: it
    /// must name the host the record gives for its generation (an earlier
    /// generation's host for an older one) and carry that member's signature
    /// by the key membership accepted for it. Whoever relays it, the signature
    /// is the host's, so no peer can plant or replace an agent's state. (A
    /// host without a known key is not judged here: the caller holds nothing.)
    func checkpointProblem(_ checkpoint: Checkpoint, of agent: String) -> String? {
        guard let record = records[agent] else { return nil }  // not held anyway: `store` keeps known agents only
        if checkpoint.generation > record.generation {
            return "generation \(checkpoint.generation) is ahead of the record's \(record.generation)"
        }
        if checkpoint.generation == record.generation, checkpoint.host != record.host {
            return "\(checkpoint.host.isEmpty ? "nobody" : checkpoint.host) is not the host of \(agent) (\(record.host))"
        }
        guard let key = view[checkpoint.host]?.meta.key, !key.isEmpty else {
            return "no key known for \(checkpoint.host.isEmpty ? "an unnamed host" : checkpoint.host)"
        }
        let statement = NodeStatement.checkpoint(host: checkpoint.host, agent: agent, generation: checkpoint.generation,
                                                 seq: checkpoint.seq, data: checkpoint.data)
        guard nodeVerifier.verify(signature: checkpoint.signature, of: statement, key: key) else {
            return "not signed by \(checkpoint.host)'s key"
        }
        return nil
    }

    mutating func refuse(_ what: String, agent: String, from peer: String, reason: String,
                         into directives: inout [AgentDirective]) {
        forgedRefused = forgedRefused.saturatingSuccessor
        directives.append(.forgedRefused(what: what, agent: agent, from: peer, reason: reason))
    }
}
