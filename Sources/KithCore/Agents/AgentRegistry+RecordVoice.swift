/// A node speaks only for itself: who may write which agent record.
///
/// A peer's record is adopted only when one of these holds:
/// - its host wrote it (`updatedBy == host`) and signed it with the key
///   membership pinned for that name: every update of a running agent, and
///   a relaunch, where the new host speaks for itself;
/// - another member wrote it for an operator's command it took, signed with
///   its own pinned key, and it has exactly that command's shape: a start or
///   revive (a new generation, `starting` at version 0, the spec's proof
///   checked by `refusal(of:replacing:)`) or a stop (the held record, stopped,
///   carrying the operator's signed stop of that agent);
/// - it is a verdict every node computes alike (lost, killed, quarantined,
///   released), which this node accepts only when its own view and
///   tombstones give the same verdict, and then recomputes from the record
///   it holds rather than trusting the sender's fields.
/// Everything else is refused and counted (`forgedRefused`).
extension AgentRecord {
    /// The writer of a `lost` record: no node, as every node computes it.
    public static let lossWriter = ""
    /// The writer of a record the kill-switch forced to `killed`.
    public static let killSwitchWriter = "kill-switch"
    /// The writer of a record a quarantine holds.
    public static let quarantineWriter = "quarantine"
    /// The writer of a quarantined record a release lifted back to running.
    public static let releaseWriter = "release"
}

extension Tombstone {
    /// The reason every node writes on a record this tombstone holds (or, lifted, released).
    var verdict: String {
        switch kind {
        case .killSwitch: "kill-switch at epoch \(epoch): \(reason)"
        case .quarantine: "quarantined at epoch \(epoch): \(reason)"
        case .lifted: "released at epoch \(epoch)"
        }
    }
}

extension AgentRegistry {
    /// How far past the held version (or generation) a verdict or another
    /// member's start may be: a node that missed a few updates computes from a
    /// later base, but a jump towards `counterMax` would freeze the host's own
    /// later updates (or leave no generation for a revive).
    public static let verdictVersionLeadMax: UInt64 = 8

    /// Nil when `record`'s writer may speak for it here, else why not.
    func voiceProblem(of record: AgentRecord, replacing previous: AgentRecord?) -> String? {
        let writer = record.updatedBy
        switch writer {
        case AgentRecord.lossWriter:
            guard record.state == .lost else { return "a record without a writer must be lost, not \(record.state.rawValue)" }
            // On the host, a verdict on a copy it still runs is taken in order to refute it (`refuteLost`) at once.
            let refutable = isMine(record) && local[record.name]?.generation == record.generation
            if hostIsLive(record) && !refutable { return "\(record.host) is live in this node's view: not lost" }
            return verdictProblem(record, replacing: previous)
        case AgentRecord.killSwitchWriter:
            guard record.state == .killed else { return "the kill-switch writes killed, not \(record.state.rawValue)" }
            if tombstone(of: record.name) == nil { return "no kill-switch holds \(record.name) here" }
            return verdictProblem(record, replacing: previous)
        case AgentRecord.quarantineWriter:
            guard record.state == .quarantined else { return "a quarantine writes quarantined, not \(record.state.rawValue)" }
            if quarantine(of: record.name) == nil { return "no quarantine holds \(record.name) here" }
            return verdictProblem(record, replacing: previous)
        case AgentRecord.releaseWriter:
            guard record.state == .running else { return "a release writes running, not \(record.state.rawValue)" }
            guard tombstones[record.name]?.kind == .lifted else { return "no release of \(record.name) is known here" }
            return verdictProblem(record, replacing: previous)
        default:
            if let problem = signatureProblem(record) { return problem }
            if writer == record.host { return nil }
            return commandProblem(record, replacing: previous)
        }
    }

    /// Nil when `record` carries its writer's signature by the key membership accepted for it.
    func signatureProblem(_ record: AgentRecord) -> String? {
        guard let key = view[record.updatedBy]?.meta.key, !key.isEmpty else {
            return "no key known for writer \(record.updatedBy)"
        }
        guard nodeVerifier.verify(signature: record.signature, of: NodeStatement.agentRecord(record), key: key) else {
            return "not signed by \(record.updatedBy)'s key"
        }
        return nil
    }

    /// Nil when a record another member wrote about `record.host`'s agent has
    /// the shape of an operator's start, revive or stop, else why not.
    func commandProblem(_ record: AgentRecord, replacing previous: AgentRecord?) -> String? {
        let writer = record.updatedBy
        switch record.state {
        case .starting:
            guard record.version == 0 else { return "\(writer) may start \(record.name) on \(record.host) only at version 0" }
            guard let previous else { return nil }
            guard record.generation > previous.generation,
                  record.generation - previous.generation <= AgentRegistry.verdictVersionLeadMax else {
                return "\(writer) may start \(record.name) only at a generation just above \(previous.generation)"
            }
            return nil
        case .stopped:
            if let problem = stopProblem(record) { return problem }
            guard let previous, sameBase(record, previous),
                  record.version <= previous.version.saturatingAdd(AgentRegistry.verdictVersionLeadMax) else {
                return "\(writer) may stop only the record held here of \(record.name)"
            }
            return nil
        default:
            return "\(writer) may not write \(record.state.rawValue) for \(record.host)'s agent \(record.name)"
        }
    }

    /// Nil when `record` carries the operator's signed stop of its agent, else why not.
    func stopProblem(_ record: AgentRecord) -> String? {
        guard let proof = record.stopProof else { return "a stop by \(record.updatedBy) without the operator's signed stop" }
        guard proof.fitsWire else { return "operator proof exceeds the wire's limits" }
        switch authorizer.grant(of: proof) {
        case .failure(let error): return error.message
        case .success(.stop(let agent)): return agent == record.name ? nil : "the signed stop names \(agent), not \(record.name)"
        case .success: return "the signed request is no agent stop"
        }
    }

    /// Nil when a computed verdict is a transition of the record held here (same
    /// generation, host, spec and proof, a few versions on), else why not.
    /// A verdict on a copy this node never held (a relaunch it missed, or the
    /// other side's copy after a split: the merge rule already put it above
    /// the held one) is taken as well, at most a few generations and versions
    /// on, with the same spec and proof, when the kill-switch ends every copy
    /// anyway or its host is a member this node knows and holds not live.
    func verdictProblem(_ record: AgentRecord, replacing previous: AgentRecord?) -> String? {
        guard let previous else { return nil }  // a node that never held the agent has nothing to recompute from
        let lead = AgentRegistry.verdictVersionLeadMax
        if !sameBase(record, previous) {
            guard record.generation >= previous.generation, record.generation - previous.generation <= lead,
                  record.version <= lead, record.spec == previous.spec, record.authorization == previous.authorization else {
                return "not a verdict on the record of \(record.name) held here or one just after it"
            }
            if record.state != .killed && (view[record.host] == nil || hostIsLive(record)) {
                return "\(record.host) is no member this node holds dead"
            }
            return nil
        }
        guard previous.state.canBecome(record.state) else {
            return "\(previous.state.rawValue) cannot become \(record.state.rawValue)"
        }
        guard record.version <= previous.version.saturatingAdd(lead) else {
            return "version \(record.version) is too far past the held \(previous.version)"
        }
        return nil
    }

    func sameBase(_ record: AgentRecord, _ previous: AgentRecord) -> Bool {
        record.generation == previous.generation && record.host == previous.host && record.hostUID == previous.hostUID
            && record.spec == previous.spec && record.authorization == previous.authorization
    }

    /// What this node adopts of an accepted record: a verdict is recomputed
    /// from the record held here (only state, version and writer come from
    /// the sender, checked by `voiceProblem`); a signed record as it is.
    func recomputed(_ record: AgentRecord, replacing previous: AgentRecord?) -> AgentRecord {
        let reason: String
        switch record.updatedBy {
        case AgentRecord.lossWriter: reason = lossReason(of: record)
        case AgentRecord.killSwitchWriter: reason = tombstone(of: record.name)?.verdict ?? record.reason
        case AgentRecord.quarantineWriter: reason = quarantine(of: record.name)?.verdict ?? record.reason
        case AgentRecord.releaseWriter: reason = tombstones[record.name]?.verdict ?? record.reason
        default: return record
        }
        let base = previous.flatMap { sameBase(record, $0) ? $0 : nil }
        var adopted = base ?? record
        adopted.state = record.state
        adopted.version = record.version
        adopted.updatedBy = record.updatedBy
        adopted.reason = reason
        adopted.signature = []
        if record.state == .killed || base == nil { adopted.pid = 0 }
        return adopted
    }
}

extension UInt64 {
    /// `self + other`, or `UInt64.max` where that would overflow.
    func saturatingAdd(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
