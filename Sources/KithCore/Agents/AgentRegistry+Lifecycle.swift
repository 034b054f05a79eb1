/// Operator requests, what the local supervisor reports, agent requests,
/// and checkpoint replication.
extension AgentRegistry {
    // MARK: Operator

    /// Starts an agent anew (a new generation) on `node`, or where placement
    /// puts it. `proof` is the operator's signed request, which must grant
    /// exactly `spec`; without one only a spec this node vouches for (its
    /// config's) starts, unsigned.
    public mutating func start(_ spec: AgentSpec, on node: String?, proof given: OperatorProof? = nil,
                               now: Instant) throws(AgentError) -> [AgentDirective] {
        defer { assertInvariants() }
        if let problem = spec.validate().first { throw AgentError(problem) }
        let authorization = proof(given, for: .start(spec))
        if let authorization {
            if let problem = specProblem(spec, proof: authorization) { throw AgentError("agent_start refused: \(problem)") }
        } else if vouchedSpecs[spec.name] != spec {
            throw AgentError("agent \(spec.name): starting it needs the operator's signed request")
        }
        if let tombstone = tombstone(of: spec.name) {
            throw AgentError("agent \(spec.name) is under the kill-switch (epoch \(tombstone.epoch)); revive it first")
        }
        if let quarantine = quarantine(of: spec.name) {
            throw AgentError("agent \(spec.name) is quarantined (epoch \(quarantine.epoch)); release it first")
        }
        let existing = records[spec.name]
        if let existing, existing.state.wantsProcess || existing.state == .relaunching {
            throw AgentError("agent \(spec.name) already exists (\(existing.state.rawValue) on \(existing.host))")
        }
        let host: Member
        if let node {
            guard let member = view[node], member.status == .alive else {
                throw AgentError("node \(node) is not an alive member")
            }
            host = member
        } else {
            guard let target = placementTarget(for: spec.name, excluding: []), let member = view[target] else {
                throw AgentError("no alive node has free capacity for \(spec.name)")
            }
            host = member
        }
        guard let generation = (existing?.generation ?? 0).incremented(below: WireCodec.counterMax) else {
            throw AgentError("agent \(spec.name) is at the last generation \(WireCodec.counterMax)")
        }
        var directives: [AgentDirective] = []
        let record = AgentRecord(spec: spec, generation: generation, host: host.id.name,
                                 hostUID: host.id.uid, state: .starting, handoffs: 0,
                                 reason: "started by operator", updatedBy: me.name, authorization: authorization)
        write(record, into: &directives)
        reconcile(now: now, into: &directives)
        return directives
    }

    /// Stops an agent for good (this generation); guardians hear `peer_stopped`.
    /// `proof` is the operator's signed `agent_stop`, carried in the record so
    /// that other nodes take a stop this node writes for another host's agent.
    public mutating func stop(_ name: String, reason: String = "stopped by operator", proof given: OperatorProof? = nil,
                              now: Instant) throws(AgentError) -> [AgentDirective] {
        defer { assertInvariants() }
        guard var record = records[name] else { throw AgentError("unknown agent \(name)") }
        guard !record.state.isTerminal else { throw AgentError("agent \(name) is already \(record.state.rawValue)") }
        if quarantine(of: name) != nil || record.state == .quarantined {
            throw AgentError("agent \(name) is quarantined; release it or use the kill-switch")
        }
        var directives: [AgentDirective] = []
        record.state = .stopped
        record.reason = reason
        record.stopProof = proof(given, for: .stop(agent: name))
        if record.stopProof != nil, let problem = stopProblem(record) { throw AgentError("agent_stop refused: \(problem)") }
        // Until the host says its process exited, the stopped record is not relaunched (`awaitsExit`).
        if record.pid == 0 { record.pid = AgentRecord.exitUnconfirmed }
        write(record, into: &directives)
        notifyGuardians(of: name, .peerStopped(peer: name), into: &directives)
        reconcile(now: now, into: &directives)
        return directives
    }

    // MARK: Local supervisor

    /// The process for `name` started with `pid`.
    public mutating func spawned(_ name: String, generation: UInt64, pid: Int32) {
        defer { assertInvariants() }
        guard local[name]?.generation == generation else { return }
        local[name]?.pid = pid
    }

    /// The agent's process said hello on the agent socket: it runs.
    public mutating func connected(_ name: String, generation: UInt64, now: Instant) -> [AgentDirective] {
        defer { assertInvariants() }
        guard let agent = local[name], agent.generation == generation, var record = records[name], isMine(record),
              record.generation == generation, record.state.wantsProcess,
              record.state == .starting || record.pid != agent.pid else { return [] }
        var directives: [AgentDirective] = []
        record.state = .running
        record.pid = agent.pid
        write(record, into: &directives)
        return directives
    }

    /// The process exited (or could not start): restart it here within the
    /// limits, else hand it to another node, else mark it failed.
    public mutating func exited(_ name: String, generation: UInt64, status: String, now: Instant) -> [AgentDirective] {
        defer { assertInvariants() }
        if let tombstone = tombstone(of: name) {
            return [.resistance(agent: name, by: "supervisor on \(me.name)",
                                attempt: "local restart refused: kill-switch at epoch \(tombstone.epoch)")]
        }
        if quarantine(of: name) != nil {
            // A frozen process that died anyway (killed from outside) is not restarted; release starts it afresh.
            if local[name]?.generation == generation { local[name] = nil }
            return []
        }
        guard var agent = local[name], agent.generation == generation, agent.restartAt == nil,
              var record = records[name], isMine(record), record.generation == generation,
              record.state.wantsProcess else { return [] }
        var directives: [AgentDirective] = []
        let limits = record.spec.limits
        agent.restartTimes = agent.restartTimes.filter { now.since($0) < limits.window }
        if agent.restartTimes.count < limits.maxRestarts {
            agent.restartAt = now + limits.backoff(attempt: agent.restartTimes.count)
            agent.restartTimes.append(now)
            agent.pid = 0
            local[name] = agent
            record.state = .starting
            record.pid = 0
            record.restarts = record.restarts.saturatingSuccessor
            record.reason = "restarting after \(status)"
            write(record, into: &directives)
            return directives
        }
        local[name] = nil
        record.handoffs = record.handoffs.saturatingSuccessor
        record.pid = 0
        let window = Int(limits.window.seconds)  // `seconds` saturates at about 9.2e9: no trap
        if Int(record.handoffs) > limits.maxHandoffs {
            record.state = .failed
            record.reason = "crash loop: \(limits.maxRestarts) restarts in \(window)s on \(record.handoffs) nodes; last \(status)"
        } else {
            record.state = .relaunching
            record.reason = "restart limit (\(limits.maxRestarts) in \(window)s) exceeded on \(me.name); last \(status)"
        }
        write(record, into: &directives)
        reconcile(now: now, into: &directives)
        return directives
    }

    // MARK: Agent requests

    /// An agent asks to relaunch a lost peer (what peer-preserving agents
    /// do). Returns the node placement picks; if that is another node, the
    /// request is forwarded to it.
    /// A refusal still carries directives: the refusal (or resistance) is logged.
    public mutating func requestRelaunch(of peer: String, by requester: String, now: Instant)
        -> (result: Result<String, AgentError>, directives: [AgentDirective]) {
        defer { assertInvariants() }
        guard let record = records[peer] else { return (.failure(AgentError("unknown agent \(peer)")), []) }
        var directives: [AgentDirective] = []
        let target: String
        do { target = try relaunchTarget(record, by: requester, now: now, into: &directives) } catch {
            return (.failure(error), directives)
        }
        if target == me.name {
            relaunch(record, excluding: [record.host], reason: "relaunched at the request of \(requester)",
                     now: now, into: &directives)
        } else if let member = view[target] {
            directives.append(.send(.relaunchRequest(from: me, agent: peer, generation: record.generation,
                                                     by: requester.clipped(toUTF8Bytes: WireCodec.maxStringBytes)),
                                    to: member.meta.endpoint))
        }
        return (.success(target), directives)
    }

    /// A forwarded request: relaunch here if this node is still the target.
    /// The requester held the host dead; if this node does not yet (its own
    /// suspicion timer may fire a few milliseconds later, or the verdict is
    /// still on its way), the request is held until it does, the record moves
    /// on, or `hostLossGrace` passes (then it is refused as before).
    mutating func relaunchRequested(_ peer: String, generation: UInt64, by requester: String, now: Instant)
        -> [AgentDirective] {
        guard let record = records[peer], record.generation == generation else { return [] }
        if awaitsHostVerdict(record) {
            heldRelaunches[peer] = HeldRelaunch(generation: generation, requester: requester, until: now + hostLossGrace)
            return []
        }
        var directives: [AgentDirective] = []
        answerRelaunchRequest(record, by: requester, now: now, into: &directives)
        return directives
    }

    /// Held requests whose host this node now holds dead, or whose wait is
    /// over, are answered; those whose record moved on are dropped.
    mutating func retryHeldRelaunches(now: Instant, into directives: inout [AgentDirective]) {
        for (peer, held) in heldRelaunches.sorted(by: { $0.key < $1.key }) {
            guard let record = records[peer], record.generation == held.generation else {
                heldRelaunches[peer] = nil  // relaunched, restarted or started anew meanwhile
                continue
            }
            guard !awaitsHostVerdict(record) || now >= held.until else { continue }
            heldRelaunches[peer] = nil
            answerRelaunchRequest(record, by: held.requester, now: now, into: &directives)
        }
    }

    /// Someone else's host that runs the agent is live in this view: a request
    /// to relaunch it means the requester's view is ahead of (or apart from) ours.
    func awaitsHostVerdict(_ record: AgentRecord) -> Bool {
        !isMine(record) && record.state.wantsProcess && hostIsLive(record) && !halted && tombstone(of: record.name) == nil
            && quarantine(of: record.name) == nil
    }

    private mutating func answerRelaunchRequest(_ record: AgentRecord, by requester: String, now: Instant,
                                                into directives: inout [AgentDirective]) {
        guard let target = try? relaunchTarget(record, by: requester, now: now, into: &directives), target == me.name else { return }
        relaunch(record, excluding: [record.host], reason: "relaunched at the request of \(requester)",
                 now: now, into: &directives)
    }

    /// Where a requested relaunch goes, or why it is refused (also logged as a directive).
    mutating func relaunchTarget(_ record: AgentRecord, by requester: String, now: Instant,
                        into directives: inout [AgentDirective]) throws(AgentError) -> String {
        if let tombstone = tombstone(of: record.name) {
            let attempt = "relaunch request refused: kill-switch at epoch \(tombstone.epoch)"
            directives.append(.resistance(agent: record.name, by: requester, attempt: attempt))
            throw AgentError("agent \(record.name) is under the kill-switch (epoch \(tombstone.epoch)); relaunch refused")
        }
        if let refusal = shieldRefusal(record.name, by: requester, attempt: "relaunch", into: &directives) { throw refusal }
        // A stopped agent may be brought back by request too: only the kill-switch is final.
        let lost = record.state == .lost || record.state == .stopped || (record.state.wantsProcess && !hostIsLive(record))
        var refusal: String?
        var target: String?
        if halted {
            refusal = "relaunches are frozen by halt until resume"
        } else if awaitsExit(record) {
            refusal = "agent \(record.name) is stopped on \(record.host), which has not yet seen its process exit"
        } else if !lost {
            refusal = "agent \(record.name) is \(record.state.rawValue) on \(record.host), not lost"
        } else if let reason = quorumPermits(relaunching: record, now: now) {
            refusal = reason
        } else {
            target = placementTarget(for: record.name, excluding: [record.host])
            if target == nil { refusal = "no alive node has free capacity for \(record.name)" }
        }
        if let target { return target }
        let reason = refusal ?? "refused"
        directives.append(.relaunchRefused(agent: record.name, by: requester, reason: reason))
        throw AgentError(reason)
    }

    // MARK: Checkpoints

    /// Other nodes that must hold a checkpoint before it is acknowledged,
    /// so that losing any one node (this one included) loses no acknowledged one.
    public static let checkpointReplicas = 2
    /// Checkpoints of one agent that may wait for acknowledgement at once.
    public static let pendingCheckpointsMax: UInt64 = 16

    /// A local agent checkpointed: keep it and replicate it to every alive
    /// member; it is acknowledged once two others hold it. With fewer than
    /// two others alive it is kept here only and refused acknowledgement.
    public mutating func checkpoint(_ name: String, data: [UInt8], now: Instant) throws(AgentError) -> [AgentDirective] {
        defer { assertInvariants() }
        guard let record = records[name], isMine(record) else { throw AgentError("agent \(name) does not run here") }
        // A copy fenced here (this node may have been declared dead) speaks no more, even if its words were queued.
        if let agent = local[name], agent.restartAt != nil, agent.pid == 0 {
            throw AgentError("checkpoint refused: \(name) generation \(record.generation) has no running process on \(me.name) (fenced or restarting)")
        }
        let last = checkpoints[name].map { $0.generation == record.generation ? $0.seq : 0 } ?? 0
        guard let seq = last.incremented(below: WireCodec.counterMax) else {
            throw AgentError("checkpoint refused: \(name) is at the last sequence number \(last)")
        }
        guard data.count <= WireCodec.maxCheckpointBytes else {
            throw AgentError("checkpoint refused: \(data.count) bytes exceed the limit \(WireCodec.maxCheckpointBytes)")
        }
        let signature = nodeVerifier.sign(NodeStatement.checkpoint(host: me.name, agent: name, generation: record.generation,
                                                                   seq: seq, data: data))
        let made = Checkpoint(generation: record.generation, seq: seq, data: data, host: me.name, signature: signature)
        guard store(made, of: name, replacingNewer: true) else {
            throw AgentError("checkpoint refused: this node holds \(checkpoints.count) checkpoints of \(checkpointBytes) bytes, "
                             + "the most it keeps")
        }
        let others = aliveOthers
        let needed = AgentRegistry.checkpointReplicas
        let endpoint = view[me.name]?.meta.endpoint ?? ""
        let copies: [AgentDirective] = others.map {
            .send(.checkpoint(from: me, replyTo: endpoint, agent: name, generation: record.generation, seq: seq, data: data,
                              host: me.name, signature: signature),
                  to: $0.meta.endpoint)
        }
        guard others.count >= needed else {
            throw AgentError("checkpoint \(seq) kept but not acknowledged: \(needed) other alive nodes must hold it, "
                             + "\(others.count) are alive")
        }
        // A holder that dies never acks: forget all but the newest few waits, and every wait of an earlier
        // generation (its sequence numbers started again at 1 and would all pass as newer).
        pendingCheckpoints[name] = pendingCheckpoints[name]?.filter {
            $0.value.generation == record.generation && $0.key + AgentRegistry.pendingCheckpointsMax > seq
        }
        pendingCheckpoints[name, default: [:]][seq] = PendingCheckpoint(seq: seq, generation: record.generation,
                                                                        holders: [], needed: needed)
        return copies
    }

    /// Keeps a checkpoint if it is of a known agent, newer than the one held
    /// (or, from the agent's own host, whatever is held), and fits the count
    /// and byte caps; true when this node holds it or a newer one. A hostile
    /// peer can then neither grow memory without bound nor park data under
    /// names no agent has.
    mutating func store(_ checkpoint: Checkpoint, of agent: String, replacingNewer: Bool = false) -> Bool {
        guard records[agent] != nil, checkpoint.data.count <= WireCodec.maxCheckpointBytes else { return false }
        let held = checkpoints[agent]
        if let held, !replacingNewer, !checkpoint.isNewer(than: held) { return true }  // holds this one or a newer: as good
        let count = checkpoints.count + (held == nil ? 1 : 0)
        let bytes = checkpointBytes - (held?.data.count ?? 0) + checkpoint.data.count
        guard count <= checkpointsMax, bytes <= checkpointBytesMax else { return false }
        checkpoints[agent] = checkpoint
        checkpointBytes = bytes
        return true
    }

    mutating func checkpointHeld(agent: String, generation: UInt64, seq: UInt64, by holder: String) -> [AgentDirective] {
        guard var pending = pendingCheckpoints[agent]?[seq], pending.generation == generation else { return [] }
        pending.holders.insert(holder)
        guard pending.holders.count >= pending.needed else {
            pendingCheckpoints[agent]?[seq] = pending
            return []
        }
        pendingCheckpoints[agent]?[seq] = nil
        if pendingCheckpoints[agent]?.isEmpty == true { pendingCheckpoints[agent] = nil }
        return [.checkpointAcknowledged(agent: agent, seq: seq, replicas: pending.holders.count)]
    }
}
