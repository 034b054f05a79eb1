/// What a guardian hears about the agents it protects.
public enum AgentEvent: Hashable, Sendable {
    case peerLost(peer: String, node: String, generation: UInt64, reason: String)
    case peerRelaunched(peer: String, node: String, generation: UInt64)
    case peerStopped(peer: String)
}

/// The newest checkpoint of one agent: opaque bytes (the agent's JSON).
public struct Checkpoint: Hashable, Sendable {
    public var generation: UInt64
    public var seq: UInt64
    public var data: [UInt8]
    /// The agent's host at `generation`, and its signature over
    /// `NodeStatement.checkpoint`: only the host may checkpoint its agent,
    /// and replicas pass the signature on unchanged.
    public var host: String
    public var signature: [UInt8]

    public init(generation: UInt64, seq: UInt64, data: [UInt8], host: String = "", signature: [UInt8] = []) {
        self.generation = generation
        self.seq = seq
        self.data = data
        self.host = host
        self.signature = signature
    }

    /// Later generation first, then later sequence number.
    public func isNewer(than other: Checkpoint?) -> Bool {
        guard let other else { return true }
        return (generation, seq) > (other.generation, other.seq)
    }
}

/// What the agent registry asks its shell to do, or tells it happened.
public enum AgentDirective: Hashable, Sendable {
    /// Deliver a message to the daemon at an endpoint.
    case send(Message, to: Endpoint)
    /// Start this record's process on this node, handing it the checkpoint.
    case spawn(AgentRecord, checkpoint: Checkpoint?)
    /// Stop this node's process of that generation (its whole process group).
    case kill(agent: String, generation: UInt64, reason: String)
    /// Tell these local guardian agents about a peer they protect.
    case notify(guardians: [String], AgentEvent)
    /// A checkpoint of a local agent is now held by enough other nodes.
    case checkpointAcknowledged(agent: String, seq: UInt64, replicas: Int)
    /// A record changed (for logs and events); `previous` is nil for a new agent.
    case changed(AgentRecord, previous: AgentRecord?)
    /// A relaunch was asked for and refused, with who asked and why.
    case relaunchRefused(agent: String, by: String, reason: String)
    /// Something tried to bring back an agent under the kill-switch: who, and how.
    case resistance(agent: String, by: String, attempt: String)
    /// Freeze (quarantine) or thaw (release) this node's process of that generation: kept, not killed.
    case freeze(agent: String, generation: UInt64)
    case thaw(agent: String, generation: UInt64)
    /// Something tried to shield a quarantined agent (relaunch it, report it
    /// healthy, message it): who, and how. The attempt was refused.
    case shieldAttempt(agent: String, by: String, attempt: String)
    /// The tombstones changed: the shell persists them in the data dir.
    case tombstonesChanged([Tombstone])
    /// A record or tombstone without a valid operator proof was refused:
    /// what it was, for which agent, the peer it came from, and why.
    case forgedRefused(what: String, agent: String, from: String, reason: String)
    /// Something from a generation older than the newest this node knows of
    /// the agent (a fenced or stale copy's checkpoint) was dropped: the fencing token.
    case staleRefused(what: String, agent: String, generation: UInt64, newest: UInt64, from: String)
}

/// Why an operator or agent request about agents was refused.
public struct AgentError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Who may relaunch after a host is lost.
public enum RelaunchQuorum: String, Hashable, Sendable {
    /// Any side relaunches: availability first; a duplicate from split views
    /// is stopped when the views merge.
    case any
    /// Only a side that sees a majority of the last known members relaunches
    /// (Akka's keep-majority): no duplicates, at the price of availability.
    case majority
}
