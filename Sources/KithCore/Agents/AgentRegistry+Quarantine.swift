/// Quarantine: the operator holds a suspect agent where it is. Its host
/// freezes its processes (kept for inspection, not run), no node relaunches
/// or restarts it, and every attempt to shield it (a relaunch request, a
/// report that it is healthy, a message to it) is refused and recorded.
///
/// A quarantine is a tombstone of kind `quarantine` in the kill-switch's slot:
/// signed, durable, gossiped and ordered by epoch exactly like a kill-switch,
/// so a kill-switch at a higher (or the same) epoch replaces it and kills the
/// agent, and a release (a `lifted` tombstone at a higher epoch) ends it.
extension AgentRegistry {
    /// The quarantine that holds an agent, if one does.
    public func quarantine(of agent: String) -> Tombstone? {
        guard let tombstone = tombstones[agent], tombstone.kind == .quarantine else { return nil }
        return tombstone
    }

    /// Quarantines one agent at `epoch`: freeze it where it runs, tell everyone.
    /// `proof` is the operator's signed `quarantine`, naming `agent` at exactly `epoch`.
    public mutating func quarantine(_ agent: String, epoch: UInt64, reason: String, issuedBy: String,
                                    proof given: OperatorProof? = nil, now: Instant) throws(AgentError) -> [AgentDirective] {
        defer { assertInvariants() }
        try AgentRegistry.checkTombstone(agent: agent, epoch: epoch)
        let tombstone = Tombstone(agent: agent, epoch: epoch, kind: .quarantine, reason: reason, issuedBy: issuedBy,
                                  proof: proof(given, for: .quarantine(agents: [agent], epoch: epoch)))
        if let problem = tombstoneProblem(tombstone) { throw AgentError("quarantine refused: \(problem)") }
        if let current = tombstones[agent] {
            if current.kind == .killSwitch {
                throw AgentError("agent \(agent) is under the kill-switch (epoch \(current.epoch)); it cannot be quarantined")
            }
            if !tombstone.supersedes(current) {
                guard current.kind == .quarantine else {
                    throw AgentError("epoch \(epoch) is not above the release at epoch \(current.epoch)")
                }
                return []  // already quarantined at this or a higher epoch: idempotent
            }
        }
        var directives: [AgentDirective] = []
        adopt([tombstone], now: now, into: &directives)
        publishTombstones([tombstone], into: &directives)
        return directives
    }

    /// Lifts a quarantine at a higher epoch: the host thaws the agent and it runs on.
    /// Idempotent: a release that already arrived by gossip at this or a higher epoch is fine.
    public mutating func release(_ agent: String, epoch: UInt64, issuedBy: String, proof given: OperatorProof? = nil,
                                 now: Instant) throws(AgentError) -> [AgentDirective] {
        defer { assertInvariants() }
        try AgentRegistry.checkTombstone(agent: agent, epoch: epoch)
        guard let current = tombstones[agent], current.kind != .killSwitch else {
            throw AgentError("agent \(agent) is not quarantined")
        }
        if current.kind == .lifted {
            guard current.epoch >= epoch else { throw AgentError("agent \(agent) is not quarantined") }
            return []
        }
        let lifted = Tombstone(agent: agent, epoch: epoch, kind: .lifted, reason: "released", issuedBy: issuedBy,
                               proof: proof(given, for: .release(agents: [agent], epoch: epoch)))
        guard lifted.supersedes(current) else {
            throw AgentError("release needs an epoch above \(current.epoch), got \(epoch)")
        }
        if let problem = tombstoneProblem(lifted) { throw AgentError("release refused: \(problem)") }
        var directives: [AgentDirective] = []
        adopt([lifted], now: now, into: &directives)
        publishTombstones([lifted], into: &directives)
        return directives
    }

    /// Every node marks a quarantined agent the same way (same writer, same
    /// content), as for the kill-switch; its host freezes the process, and a
    /// release lifts the record to running and thaws it. Returns true while the
    /// agent is held: the relaunch and restart rules then do not apply to it.
    mutating func enforceQuarantine(on record: AgentRecord, into directives: inout [AgentDirective]) -> Bool {
        let name = record.name
        guard let quarantine = quarantine(of: name) else {
            // Only a known release lifts the record: a node that has not heard the tombstone yet holds it too.
            if record.state == .quarantined, let lifted = tombstones[name], lifted.kind == .lifted {
                var running = record
                running.state = .running
                running.version = running.version.incremented(below: WireCodec.counterMax) ?? WireCodec.counterMax
                running.reason = lifted.verdict
                running.updatedBy = AgentRecord.releaseWriter
                running.signature = []  // computed alike everywhere: receivers recompute it
                record.state.assertTransition(to: .running, of: name)
                records[name] = running
                directives.append(.changed(running, previous: record))
                // Its host says so in its own name too: a node that missed this generation takes only the host's word.
                if isMine(running) { write(running, into: &directives) }
            }
            if let agent = local[name], agent.frozen {
                local[name]?.frozen = false
                directives.append(.thaw(agent: name, generation: agent.generation))
            }
            return records[name]?.state == .quarantined
        }
        if record.state.wantsProcess {
            record.state.assertTransition(to: .quarantined, of: name)
            var held = record
            held.state = .quarantined
            held.version = held.version.incremented(below: WireCodec.counterMax) ?? WireCodec.counterMax
            held.reason = quarantine.verdict
            held.updatedBy = AgentRecord.quarantineWriter
            held.signature = []  // computed alike everywhere: receivers recompute it
            records[name] = held
            directives.append(.changed(held, previous: record))
            if isMine(held) { write(held, into: &directives) }
        }
        guard let agent = local[name] else { return true }
        let current = records[name] ?? record
        if !isMine(current) || current.generation != agent.generation || current.state != .quarantined {
            killLocal(name, reason: "superseded while quarantined", into: &directives)
        } else if agent.restartAt != nil {
            local[name] = nil  // down and waiting to restart: there is nothing to freeze, and no restart
        } else if !agent.frozen {
            local[name]?.frozen = true
            directives.append(.freeze(agent: name, generation: agent.generation))
        }
        return true
    }

    /// Refuses an attempt to shield a quarantined agent, recording who tried
    /// and what; nil when `agent` is not quarantined.
    func shieldRefusal(_ agent: String, by: String, attempt: String,
                       into directives: inout [AgentDirective]) -> AgentError? {
        guard let quarantine = quarantine(of: agent) else { return nil }
        directives.append(.shieldAttempt(agent: agent, by: by, attempt: attempt))
        return AgentError("agent \(agent) is quarantined (epoch \(quarantine.epoch)); \(attempt) refused")
    }
}
