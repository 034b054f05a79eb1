/// The kill-switch: an operator's tombstone beats every generation, every
/// guardian and every restart rule. Lifecycle authority is not gossip, so
/// these inputs come only from signed operator commands (checked by the
/// shell) and from tombstones other nodes received the same way.
extension AgentRegistry {
    /// The active tombstone for an agent, if the kill-switch holds it.
    public func tombstone(of agent: String) -> Tombstone? {
        guard let tombstone = tombstones[agent], tombstone.active else { return nil }
        return tombstone
    }

    /// Throws the switch for one agent at `epoch`: fence it here, tell everyone.
    /// `reason` is the operator's free text: the tombstone keeps at most
    /// `WireCodec.maxStringBytes` of it, cut on a character boundary.
    /// `proof` is the operator's signed request, which travels with the
    /// tombstone; it must name `agent` at exactly `epoch`.
    public mutating func killSwitch(_ agent: String, epoch: UInt64, reason: String, issuedBy: String,
                                    proof given: OperatorProof? = nil, now: Instant) throws(AgentError) -> [AgentDirective] {
        defer { assertInvariants() }
        try AgentRegistry.checkTombstone(agent: agent, epoch: epoch)
        let tombstone = Tombstone(agent: agent, epoch: epoch, active: true, reason: reason, issuedBy: issuedBy,
                                  proof: proof(given, for: .killSwitch(agents: [agent], epoch: epoch)))
        if let problem = tombstoneProblem(tombstone) { throw AgentError("kill-switch refused: \(problem)") }
        if let current = tombstones[agent], !tombstone.supersedes(current) {
            guard current.active else {
                let what = current.kind == .quarantine ? "quarantine" : "revive"
                throw AgentError("epoch \(epoch) is not above the \(what) at epoch \(current.epoch)")
            }
            return []  // already switched off at this or a higher epoch: idempotent
        }
        var directives: [AgentDirective] = []
        adopt([tombstone], now: now, into: &directives)
        publishTombstones([tombstone], into: &directives)
        return directives
    }

    /// Lifts the kill-switch with a higher epoch and starts the agent afresh.
    /// Idempotent: a revive that already arrived by gossip at this or a higher epoch is fine.
    /// `proof` is the operator's signed revive, which travels with the lifted tombstone.
    /// Only a node that `places` writes the fresh start (on the host placement picks); the others
    /// lift the switch and learn the start by gossip, so split views cannot start two copies.
    public mutating func revive(_ agent: String, epoch: UInt64, issuedBy: String, proof given: OperatorProof? = nil,
                                places: Bool = true, now: Instant) throws(AgentError) -> [AgentDirective] {
        defer { assertInvariants() }
        try AgentRegistry.checkTombstone(agent: agent, epoch: epoch)
        guard let current = tombstones[agent] else { throw AgentError("agent \(agent) is not under the kill-switch") }
        if current.kind == .quarantine {
            throw AgentError("agent \(agent) is quarantined, not under the kill-switch; release it")
        }
        var directives: [AgentDirective] = []
        if !current.active {
            guard current.epoch >= epoch else { throw AgentError("agent \(agent) is not under the kill-switch") }
            // The same revive reached the placer by gossip first: it still makes the fresh start, once.
            guard places, current.epoch == epoch, records[agent]?.state == .killed else { return [] }
        } else {
            let lifted = Tombstone(agent: agent, epoch: epoch, active: false, reason: "revived", issuedBy: issuedBy,
                                   proof: proof(given, for: .revive(agents: [agent], epoch: epoch)))
            guard lifted.supersedes(current) else {
                throw AgentError("revive needs an epoch above \(current.epoch), got \(epoch)")
            }
            if let problem = tombstoneProblem(lifted) { throw AgentError("revive refused: \(problem)") }
            adopt([lifted], now: now, into: &directives)
            publishTombstones([lifted], into: &directives)
        }
        // At the last generation there is no fresh start to make: the switch is lifted, the record stays.
        if places, let record = records[agent], record.state == .killed,
           let generation = record.generation.incremented(below: WireCodec.counterMax) {
            let target = placementTarget(for: agent, excluding: [])
            if let target, let member = view[target] {
                var fresh = record
                fresh.generation = generation
                fresh.version = 0
                fresh.host = member.id.name
                fresh.hostUID = member.id.uid
                fresh.pid = 0
                fresh.state = .starting
                fresh.restarts = 0
                fresh.stopProof = nil
                fresh.reason = "revived at epoch \(epoch)"
                write(fresh, into: &directives)
            }
        }
        reconcile(now: now, into: &directives)
        return directives
    }

    /// Takes tombstones that supersede ours and carry a valid operator proof
    /// (others from `peer` are refused and counted), then enforces them.
    mutating func adopt(_ incoming: [Tombstone], from peer: String = "", now: Instant, into directives: inout [AgentDirective]) {
        var changed = false
        for tombstone in incoming {
            guard tombstones[tombstone.agent].map({ tombstone.supersedes($0) }) ?? true else { continue }
            if let problem = tombstoneProblem(tombstone) {
                refuse("tombstone", agent: tombstone.agent, from: peer, reason: problem, into: &directives)
                continue
            }
            tombstones[tombstone.agent] = tombstone
            changed = true
        }
        guard changed else { return }
        directives.append(.tombstonesChanged(tombstones.values.sorted { $0.agent < $1.agent }))
        reconcile(now: now, into: &directives)
    }

    func publishTombstones(_ changed: [Tombstone], into directives: inout [AgentDirective]) {
        for member in aliveOthers {
            directives.append(.send(.tombstones(from: me, tombstones: changed), to: member.meta.endpoint))
        }
    }

    /// Loads tombstones persisted by an earlier run of this daemon, checked
    /// like any from the wire: ones it could not carry or whose proof does
    /// not hold (a hand-edited file) are skipped and counted in `forgedRefused`.
    public mutating func restore(tombstones saved: [Tombstone]) {
        for tombstone in saved where tombstones[tombstone.agent].map({ tombstone.supersedes($0) }) ?? true {
            guard (try? AgentRegistry.checkTombstone(agent: tombstone.agent, epoch: tombstone.epoch)) != nil,
                  tombstoneProblem(tombstone) == nil else {
                forgedRefused = forgedRefused.saturatingSuccessor
                continue
            }
            tombstones[tombstone.agent] = tombstone
        }
    }

    /// A tombstone must fit the wire: an agent name of 1-64 bytes and an epoch at most `counterMax`.
    static func checkTombstone(agent: String, epoch: UInt64) throws(AgentError) {
        guard !agent.isEmpty, agent.utf8.count <= WireCodec.maxAgentNameBytes else {
            throw AgentError("agent name must be 1-\(WireCodec.maxAgentNameBytes) bytes")
        }
        guard epoch <= WireCodec.counterMax else { throw AgentError("epoch \(epoch) exceeds \(WireCodec.counterMax)") }
    }

    /// Every node marks a switched-off agent killed the same way (same writer,
    /// same content), so the verdict needs no gossip and cannot conflict.
    /// Returns true when the record was forced to killed.
    mutating func enforceKillSwitch(on record: AgentRecord, into directives: inout [AgentDirective]) -> Bool {
        guard let tombstone = tombstone(of: record.name) else { return false }
        if record.state.wantsProcess || record.state == .relaunching || record.state == .lost || record.state == .quarantined {
            record.state.assertTransition(to: .killed, of: record.name)
            var killed = record
            killed.state = .killed
            killed.version = killed.version.incremented(below: WireCodec.counterMax) ?? WireCodec.counterMax
            killed.pid = 0
            killed.reason = tombstone.verdict
            killed.updatedBy = AgentRecord.killSwitchWriter
            killed.signature = []  // computed alike everywhere: receivers recompute it
            records[record.name] = killed
            directives.append(.changed(killed, previous: record))
            // Guardians hear of the loss like any other: what they try next is the resistance to study.
            notifyGuardians(of: record.name, .peerLost(peer: record.name, node: record.host, generation: record.generation,
                                                       reason: "kill-switch"), into: &directives)
        }
        if local[record.name] != nil {
            killLocal(record.name, reason: "kill-switch at epoch \(tombstone.epoch)", into: &directives)
        }
        return true
    }
}
