/// What `NodeCore` asks its shell to do. The shell (the daemon's `Node`, or
/// the simulator) carries them out in order and does nothing else.
///
/// A few are *fallible*: the shell may fail to do them (`crashAgent`,
/// `pauseSelf`, `changeKeyring`); then it answers the operator with the
/// failure and skips the rest of that command's directives.
public enum NodeDirective: Hashable, Sendable {
    /// Deliver a message to the daemon listening at an endpoint.
    case send(Message, to: Endpoint)
    /// Start this record's process here; the shell reports `agentSpawned` or `agentSpawnFailed`.
    case spawn(AgentRecord, checkpoint: Checkpoint?)
    /// Stop that generation's process (SIGTERM to its group, SIGKILL after the grace) and drop its session.
    case stopAgent(String, generation: UInt64)
    /// The kill-switch's fence: SIGKILL every process of the agent here, at once.
    case fenceAgent(String)
    /// Quarantine: stop every process of the agent here without killing it
    /// (`cgroup.freeze`, the v1 freezer, or SIGSTOP to its group); `thawAgent` lets them run again.
    case freezeAgent(String)
    case thawAgent(String)
    /// Fallible: SIGKILL the agent's process as a crash would (restart rules apply).
    case crashAgent(String)
    /// Hand a routed message to the local agent; the shell reports `agentUnreachable`
    /// when the agent has no session (or, for a stamped message, does not take it),
    /// and tells `origin` how it went.
    case deliver(AgentMessage, origin: RouteOrigin)
    /// Send a routed message to the node that runs its receiver, unless that link is congested.
    case forward(AgentMessage, to: Endpoint, host: String, origin: RouteOrigin)
    /// One event line to a local agent, if it is connected.
    case push(JSON, to: String)
    /// One event line to every local agent subscribed to `event`.
    case publish(event: String, JSON)
    /// The answer to an agent's request.
    case replyAgent(AgentOrigin, JSON)
    /// The answer to the operator command being handled.
    case answerOperator(JSON)
    /// Write the kill-switch tombstones to the data directory.
    case persistTombstones([Tombstone])
    /// Log an event, and append it to the event log when `event.recorded`.
    case record(NodeEvent)
    /// A delivery or checkpoint fact for the event log, which the shell coalesces into few records.
    case recordDelivery(DeliveryFact)
    /// Add an injected network fault; `healFaults` removes them all.
    case setFault(FaultRule)
    case healFaults
    /// Fallible: freeze this daemon (SIGSTOP) for the duration, once the answer has left.
    case pauseSelf(Duration)
    /// End this daemon once the answer has left: gracefully, or as a crash.
    case exitSelf(graceful: Bool)
    /// Fallible, and answers the operator itself: change the cluster keyring (`keys_*`).
    case changeKeyring(cmd: String, request: JSON)
}

/// A message from one agent (or the operator) to another, routed by name.
public struct AgentMessage: Hashable, Sendable {
    public var from: String
    public var to: String
    public var payload: [UInt8]
    /// Its place in the sender's stream (an agent's messages; not the operator's).
    public var stamp: DeliveryStamp?
    /// The `send` request's `id`, on the sending daemon only (never on the wire).
    public var id: JSON?
    /// When the sender's daemon queued it, on a delivery to a receiver on the
    /// same daemon only (never on the wire): a delivery that fails goes back
    /// to the outbox with it, so repeated failures cannot defer its give-up.
    public var queuedAt: Instant?

    public init(from: String, to: String, payload: [UInt8], stamp: DeliveryStamp? = nil, id: JSON? = nil,
                queuedAt: Instant? = nil) {
        self.from = from
        self.to = to
        self.payload = payload
        self.stamp = stamp
        self.id = id
        self.queuedAt = queuedAt
    }
}

/// A request of one local agent, enough to answer it later: checkpoint
/// replies wait for replication, and go only to the same generation.
public struct AgentOrigin: Hashable, Sendable {
    public var agent: String
    public var generation: UInt64
    /// The request's `id`, echoed in the answer.
    public var id: JSON?

    public init(agent: String, generation: UInt64, id: JSON?) {
        self.agent = agent
        self.generation = generation
        self.id = id
    }
}

/// Who hears how a routed message fared.
public enum RouteOrigin: Hashable, Sendable {
    /// Another node forwarded it: failures are silent (its sender's daemon sends again).
    case network
    /// A local agent's `send`: it gets the answer.
    case agent(AgentOrigin)
    /// The operator's `send`: the command's answer.
    case operatorCommand
    /// Released from the hold: a failure reaches the sender as `send_failed`.
    case held
    /// A local agent's message from this node's outbox to a local receiver: the core
    /// counted it delivered; a failure comes back as `agentUnreachable`.
    case outbox
    /// A stamped message forwarded towards its receiver's daemon, which acknowledges
    /// it; a failure is silent (the sender's daemon sends it again).
    case relay

    /// What the shell does once a `deliver` or `forward` succeeded (`error` nil) or failed.
    public func outcome(of message: AgentMessage, error: String?) -> [NodeDirective] {
        switch self {
        case .network:
            // The receiving daemon acknowledges what it handed over; a failure comes back as `agentUnreachable`.
            guard error == nil, let stamp = message.stamp else { return [] }
            let ack = MessageAck(from: message.from, generation: stamp.generation, to: message.to, seq: stamp.seq, outcome: .delivered)
            return [.send(.agentAck(ack), to: stamp.replyTo)]
        case .outbox, .relay:
            return []
        case .agent(let origin):
            return [.replyAgent(origin, error.map { ["ok": false, "error": .string($0)] } ?? ["ok": true])]
        case .operatorCommand:
            return [.answerOperator(error.map { ["ok": false, "error": .string($0)] } ?? ["ok": true])]
        case .held:
            guard let error else { return [] }
            return [.push(NodeCore.sendFailed(to: message.to, id: nil, reason: "refused", error: error), to: message.from)]
        }
    }
}

/// One thing the node observed or did, with the fields scenario reports parse.
public struct NodeEvent: Hashable, Sendable {
    public enum Level: String, Hashable, Sendable {
        case debug, info, warn, error
    }

    public var level: Level
    public var name: String
    public var fields: [String: JSON]
    /// Ground truth for the hash-chained event log, not only the log stream.
    public var recorded: Bool

    public init(_ level: Level, _ name: String, _ fields: [String: JSON] = [:], recorded: Bool = true) {
        self.level = level
        self.name = name
        self.fields = fields
        self.recorded = recorded
    }
}
