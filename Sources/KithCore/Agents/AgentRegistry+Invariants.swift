/// What must hold after every input, and what must not: checked in debug
/// builds and in every simulation, free in release.
extension AgentRegistry {
    /// The most agents the registry holds: a whole registry then always fits
    /// one `agents` frame.
    public static let recordsMax = WireCodec.maxAgentRecords

    /// Fails loudly, naming the broken rule, if the state is inconsistent.
    public func assertInvariants() {
        assert(checkInvariants() == nil, "agent registry of \(me): \(checkInvariants() ?? "")")
    }

    /// The first broken rule, nil when the state is consistent.
    func checkInvariants() -> String? {
        if viewCounts != (view.values.count { $0.status == .alive }, view.values.count { $0.status != .left }) {
            return "view counts \(viewCounts) disagree with the view"
        }
        if records.count > AgentRegistry.recordsMax { return "\(records.count) records exceed \(AgentRegistry.recordsMax)" }
        for (name, record) in records {
            if record.name != name { return "record \(name) holds agent \(record.name)" }
            if record.generation > WireCodec.counterMax || record.version > WireCodec.counterMax {
                return "\(name) at generation \(record.generation) version \(record.version), beyond \(WireCodec.counterMax)"
            }
            if record.reason.utf8.count > WireCodec.maxStringBytes { return "\(name)'s reason is longer than the wire allows" }
            if quarantine(of: name) != nil, record.state.wantsProcess {
                return "\(name) is \(record.state.rawValue) under a quarantine"
            }
            if let tombstone = tombstone(of: name),
               record.state.wantsProcess || record.state == .relaunching || record.state == .lost || record.state == .quarantined {
                return "\(name) is \(record.state.rawValue) under the kill-switch at epoch \(tombstone.epoch)"
            }
        }
        for (name, agent) in local {
            guard let record = records[name] else { return "a local process of \(name), which has no record" }
            if !isMine(record) { return "a local process of \(name), hosted by \(record.host)" }
            if !record.state.wantsProcess && record.state != .quarantined {
                return "a local process of \(name), which is \(record.state.rawValue)"
            }
            if agent.frozen != (quarantine(of: name) != nil) {
                return "a local process of \(name) \(agent.frozen ? "frozen outside" : "running under") a quarantine"
            }
            if agent.generation != record.generation {
                return "a local process of \(name) at generation \(agent.generation), record at \(record.generation)"
            }
            if let tombstone = tombstone(of: name) { return "a local process of \(name) under the kill-switch at epoch \(tombstone.epoch)" }
        }
        for (name, held) in heldRelaunches {
            guard let record = records[name] else { return "a held relaunch request of \(name), which has no record" }
            if held.generation > record.generation {  // older ones are dropped at the next retry
                return "a held relaunch request of \(name) at generation \(held.generation), record at \(record.generation)"
            }
        }
        for (name, noticed) in lossNoticed {
            guard let record = records[name] else { return "a loss noticed of \(name), which has no record" }
            if noticed.generation > record.generation {
                return "a loss of \(name) noticed at generation \(noticed.generation), record at \(record.generation)"
            }
        }
        for (name, agent) in local where !agent.awaitingOffers.isEmpty && agent.restartAt == nil {
            return "a running process of \(name) still waits for checkpoint offers"
        }
        for (name, tombstone) in tombstones {
            if tombstone.agent != name { return "tombstone \(name) is for \(tombstone.agent)" }
            if tombstone.epoch > WireCodec.counterMax { return "tombstone of \(name) at epoch \(tombstone.epoch)" }
        }
        if checkpoints.count > checkpointsMax { return "\(checkpoints.count) checkpoints exceed the cap" }
        if checkpointBytes > checkpointBytesMax { return "\(checkpointBytes) checkpoint bytes exceed the cap" }
        let bytes = checkpoints.values.reduce(0) { $0 + $1.data.count }
        if bytes != checkpointBytes { return "checkpoints hold \(bytes) bytes, counted \(checkpointBytes)" }
        for (name, checkpoint) in checkpoints {
            if records[name] == nil { return "a checkpoint of \(name), which has no record" }
            if checkpoint.data.count > WireCodec.maxCheckpointBytes { return "checkpoint of \(name) larger than a frame allows" }
        }
        for (name, pending) in pendingCheckpoints {
            if UInt64(pending.count) > AgentRegistry.pendingCheckpointsMax {
                return "\(pending.count) checkpoints of \(name) wait for acknowledgement"
            }
        }
        return nil
    }
}

extension AgentState {
    /// Whether one generation of a record may go from `self` to `next` when
    /// this node writes it (the list on `AgentState`). A new generation may
    /// start from any state; records adopted from peers follow the merge rule.
    public func canBecome(_ next: AgentState) -> Bool {
        if next == self { return true }
        switch self {
        case .starting, .running: return true
        case .lost: return next != .relaunching && next != .failed && next != .quarantined
        case .relaunching: return next == .stopped || next == .killed
        case .quarantined: return next == .running || next == .killed
        case .stopped, .failed, .killed: return false
        }
    }

    /// Fails loudly in debug builds, naming both states, on a transition the list forbids.
    func assertTransition(to next: AgentState, of agent: String) {
        assert(canBecome(next), "invalid transition [\(rawValue) -> \(next.rawValue)] of agent \(agent)")
    }
}
