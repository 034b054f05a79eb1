/// One copy at a time. A stopped agent is relaunched only once its host has
/// seen the old process exit (or the host is dead); a node that may have
/// been declared dead fences its own processes before anything else; and a
/// checkpoint from a generation older than the newest known is dropped (the
/// generation is the fencing token).
extension AgentRegistry {
    /// Whether `record` is a stopped copy whose live host has not yet
    /// confirmed that its process exited: in a stopped record, a pid other
    /// than 0 means a process may still run there.
    public func awaitsExit(_ record: AgentRecord) -> Bool {
        record.state == .stopped && record.pid != 0 && hostIsLive(record)
    }

    /// A process this node stopped has exited (and its cgroup is empty): a
    /// stopped record of it can now say so, and its guardians may relaunch it.
    public mutating func stoppedProcessExited(_ name: String, generation: UInt64, now: Instant) -> [AgentDirective] {
        defer { assertInvariants() }
        guard stopping[name]?.remove(generation) != nil else { return [] }
        if stopping[name]?.isEmpty == true { stopping[name] = nil }
        var directives: [AgentDirective] = []
        reconcile(now: now, into: &directives)
        return directives
    }

    /// Our stopped record: once no process of it is left here, write pid 0
    /// (the confirmation every node waits for before a relaunch).
    mutating func confirmExit(of name: String, into directives: inout [AgentDirective]) {
        guard let record = records[name], isMine(record), record.state == .stopped, record.pid != 0, local[name] == nil,
              stopping[name]?.contains(record.generation) != true else { return }
        var confirmed = record
        confirmed.pid = 0
        write(confirmed, into: &directives)
    }

    /// This node may have been declared dead (it was frozen longer than a
    /// suspicion timeout, or a member buried it): its agents that a guardian
    /// would relaunch may already run elsewhere. Each such process is killed
    /// at once, and its restart held for `hostLossGrace` (plus `quorumGrace`
    /// under a majority quorum, which relaunches only after it), time to hear
    /// whether the cluster relaunched it meanwhile (then the newer record
    /// stops the restart). An agent no guardian relaunches has no other copy
    /// and runs on (a healed partition must not stop it).
    /// Returns the agents fenced, for the shell to SIGKILL.
    public mutating func fenceAll(now: Instant) -> [String] {
        defer { assertInvariants() }
        var fenced: [String] = []
        for (name, agent) in local.sorted(by: { $0.key < $1.key }) where !agent.frozen {
            guard guardians(of: name).contains(where: { $0.spec.policy.relaunches }) else { continue }
            fenced.append(name)
            var held = LocalAgent(generation: agent.generation)
            // Under a majority quorum the cluster relaunches only after its grace: hold the restart past it.
            held.restartAt = now + hostLossGrace + (quorum == .majority ? quorumGrace : .zero)
            held.restartTimes = agent.restartTimes
            local[name] = held
        }
        return fenced
    }

    /// A peer's replica of a checkpoint: held and acknowledged unless it is
    /// of a generation older than the record this node knows and would move
    /// on what this node holds: that is a stale copy still speaking
    /// (dropped, recorded, never acknowledged). A relaunched copy carries
    /// its predecessor's checkpoint on, so an older generation's checkpoint
    /// is still welcome where nothing newer is held (a member that rejoins).
    mutating func receiveCheckpoint(_ checkpoint: Checkpoint, of agent: String, from peer: String,
                                    replyTo: Endpoint) -> [AgentDirective] {
        if let newest = records[agent]?.generation, checkpoint.generation < newest, let held = checkpoints[agent],
           checkpoint.isNewer(than: held) {
            return [.staleRefused(what: "checkpoint", agent: agent, generation: checkpoint.generation, newest: newest,
                                  from: peer)]
        }
        guard store(checkpoint, of: agent) else { return [] }  // not held: no acknowledgement
        return [.send(.checkpointAck(from: me, agent: agent, generation: checkpoint.generation, seq: checkpoint.seq),
                      to: replyTo)]
    }
}

extension AgentRecord {
    /// The pid of a stopped record whose host has not yet confirmed its
    /// process exited and that had no pid (it was stopped while starting).
    public static let exitUnconfirmed: Int32 = -1
}
