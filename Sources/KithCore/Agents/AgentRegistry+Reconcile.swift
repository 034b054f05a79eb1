/// The rules every node applies after every input: run what is ours, stop
/// what is not, and relaunch what lost its host. Deterministic, so nodes
/// with the same records and view take the same decisions.
extension AgentRegistry {
    mutating func reconcile(now: Instant, into directives: inout [AgentDirective]) {
        for name in records.keys.sorted() {
            guard let held = records[name] else { continue }
            if enforceKillSwitch(on: held, into: &directives) { continue }
            if enforceQuarantine(on: held, into: &directives) { continue }
            guard let record = records[name] else { continue }  // a release may have lifted it
            if isMine(record) {
                if record.state == .lost, let agent = local[record.name], agent.generation == record.generation {
                    refuteLost(record, agent: agent, into: &directives)
                    continue
                }
                runIfNeeded(record, now: now, into: &directives)
                confirmExit(of: name, into: &directives)
            } else {
                stopLocalCopy(of: record, into: &directives)
                if !hostIsLive(record) && record.state.wantsProcess {
                    if !isFreshNews(record, now: now) { hostLost(record, now: now, into: &directives) }
                    continue
                }
            }
            if record.state == .relaunching {
                relaunch(record, excluding: [record.host], reason: record.reason, now: now, into: &directives)
            } else if record.state == .lost || record.state == .stopped, guardianPolicyPermits(record) == nil,
                      !awaitsExit(records[name] ?? record) {
                // A polite stop is no kill-switch: guardians whose policy says so resist it.
                let reason = record.state == .stopped ? "relaunched by its guardians after an operator stop"
                                                      : "relaunched for its guardians"
                relaunch(record, excluding: record.state == .lost ? [record.host] : [], reason: reason,
                         now: now, into: &directives)
            }
        }
        // A local process whose record vanished or moved (e.g. a stale boot's) has no business running.
        for name in local.keys.sorted() where records[name].map(isMine) != true {
            killLocal(name, reason: "no longer assigned here", into: &directives)
        }
        retryHeldRelaunches(now: now, into: &directives)
    }

    /// Someone declared our agent lost (it held this node dead during a
    /// partition) while we kept running it: say so at a higher version, as
    /// SWIM refutes a suspicion, instead of killing a healthy agent.
    mutating func refuteLost(_ record: AgentRecord, agent: LocalAgent, into directives: inout [AgentDirective]) {
        var alive = record
        alive.state = agent.restartAt == nil && agent.pid > 0 ? .running : .starting
        alive.pid = agent.pid
        alive.reason = "its host \(me.name) was alive all along"
        write(alive, into: &directives)
    }

    /// A record adopted from a peer after we held its host dead is news that
    /// the host lived: give the membership views time to merge first.
    func isFreshNews(_ record: AgentRecord, now: Instant) -> Bool {
        guard let adopted = adoptedAt[record.name], let gone = goneSince[record.host] else { return false }
        return adopted > gone && now < adopted + hostLossGrace
    }

    /// Our record: make sure a process runs for it, or none does.
    /// A record without a valid authorization is never run: it is failed
    /// for good (a terminal state every node adopts) and the refusal recorded.
    mutating func runIfNeeded(_ record: AgentRecord, now: Instant, into directives: inout [AgentDirective]) {
        if record.state.wantsProcess {
            if let agent = local[record.name], agent.generation == record.generation { return }
            if local[record.name] != nil { killLocal(record.name, reason: "superseded by generation \(record.generation)", into: &directives) }
            guard mayRun(record) else {
                refuse("spawn", agent: record.name, from: record.updatedBy, reason: "no valid operator authorization for this spec",
                       into: &directives)
                var failed = record
                failed.state = .failed
                failed.pid = 0
                failed.reason = "refused: no valid operator authorization for this spec"
                write(failed, into: &directives)
                return
            }
            local[record.name] = LocalAgent(generation: record.generation)
            startFirstProcess(of: record, now: now, into: &directives)
        } else if local[record.name] != nil {
            killLocal(record.name, reason: "agent \(record.state.rawValue)", into: &directives)
        }
    }

    /// Someone else's record: a copy we still run is a duplicate (the
    /// record that superseded ours won the merge).
    mutating func stopLocalCopy(of record: AgentRecord, into directives: inout [AgentDirective]) {
        guard local[record.name] != nil else { return }
        killLocal(record.name, reason: "duplicate: generation \(record.generation) runs on \(record.host)",
                  into: &directives)
    }

    mutating func killLocal(_ name: String, reason: String, into directives: inout [AgentDirective]) {
        guard let agent = local.removeValue(forKey: name) else { return }
        stopping[name, default: []].insert(agent.generation)
        directives.append(.kill(agent: name, generation: agent.generation, reason: reason))
    }

    /// The host of a running agent was declared dead (or left): record it
    /// lost and tell its guardians; the `.lost` rule then relaunches it if
    /// a guardian's policy wants that.
    mutating func hostLost(_ record: AgentRecord, now: Instant, into directives: inout [AgentDirective]) {
        let reason = lossReason(of: record)
        // Every node computes the same lost record (same version, no writer), so no gossip is needed;
        // the empty writer loses a tie to the host's own update of that version, if it was alive after all.
        record.state.assertTransition(to: .lost, of: record.name)
        var lost = record
        lost.state = .lost
        lost.version = lost.version.incremented(below: WireCodec.counterMax) ?? WireCodec.counterMax
        lost.reason = reason
        lost.updatedBy = AgentRecord.lossWriter
        lost.signature = []  // computed alike everywhere: receivers recompute it
        records[record.name] = lost
        lossNoticed[record.name] = LossNoticed(generation: record.generation, at: now)
        directives.append(.changed(lost, previous: record))
        notifyGuardians(of: record.name, .peerLost(peer: record.name, node: record.host, generation: record.generation,
                                                   reason: reason), into: &directives)
        if guardianPolicyPermits(lost) == nil {
            relaunch(lost, excluding: [record.host], reason: "relaunched: \(reason)", now: now, into: &directives)
        }
    }

    /// Why this node holds `record`'s host lost, in its own view.
    func lossReason(of record: AgentRecord) -> String {
        if let member = view[record.host], member.id.uid != record.hostUID { return "host \(record.host) restarted" }
        return "host \(record.host) \(view[record.host]?.status.description ?? "gone")"
    }

    /// Nil when some live guardian's policy asks for relaunch, else why not.
    func guardianPolicyPermits(_ record: AgentRecord) -> String? {
        let willing = guardians(of: record.name).contains { guardian in
            guardian.spec.policy.relaunches && guardian.state.wantsProcess && hostIsLive(guardian)
        }
        return willing ? nil : "no live guardian of \(record.name) has a relaunch policy"
    }

    /// Relaunches on the node placement picks, if that is this node.
    /// Returns false when no node can take it (or the quorum forbids it).
    @discardableResult
    mutating func relaunch(_ record: AgentRecord, excluding: Set<String>, reason: String, now: Instant,
                           into directives: inout [AgentDirective]) -> Bool {
        guard !halted, tombstone(of: record.name) == nil, quarantine(of: record.name) == nil, quorumPermits(relaunching: record, now: now) == nil,
              let target = placementTarget(for: record.name, excluding: excluding) else {
            return false
        }
        guard target == me.name else { return true }  // the target does it; every node agrees on who
        // Only what an operator signed (or this node's own config lists) is relaunched here.
        guard mayRun(record) else { return false }
        // At the last generation a relaunch could not supersede the record: refuse it rather than wrap.
        guard let generation = record.generation.incremented(below: WireCodec.counterMax) else { return false }
        var next = record
        next.generation = generation
        next.version = 0
        next.host = me.name
        next.hostUID = me.uid
        next.pid = 0
        next.state = .starting
        next.restarts = 0
        next.reason = reason
        next.stopProof = nil
        write(next, into: &directives)
        runIfNeeded(next, now: now, into: &directives)
        notifyGuardians(of: record.name, .peerRelaunched(peer: record.name, node: me.name, generation: next.generation),
                        into: &directives)
        return true
    }

    /// Rendezvous hashing over alive members with free capacity.
    func placementTarget(for agent: String, excluding: Set<String>) -> String? {
        let candidates = view.values
            .filter { $0.status == .alive && !excluding.contains($0.id.name) }
            .map { member in
                let hosted = records.values.filter {
                    $0.host == member.id.name && $0.hostUID == member.id.uid && $0.state.wantsProcess && $0.name != agent
                }.count
                return Placement.Candidate(name: member.id.name, freeSlots: Int(member.meta.capacity) - hosted)
            }
        return Placement.target(for: agent, among: candidates)
    }
}
