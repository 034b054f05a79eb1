/// Everything that can happen to a node, as one value: the shell feeds
/// these to `NodeCore.handle(_:now:)`, and a test can record and replay them.
public enum NodeInput: Hashable, Sendable {
    /// The daemon begins: contact the seeds, take the first view.
    case start
    /// A frame from another daemon.
    case receive(Message)
    /// `nextDeadline` came due.
    case tick
    /// A connection to that endpoint was refused: nothing listens there.
    case peerRefused(Endpoint)
    /// A `spawn` directive started the process.
    case agentSpawned(String, generation: UInt64, pid: Int32)
    /// A `spawn` directive could not start the process (it counts as a crash).
    case agentSpawnFailed(String, generation: UInt64, error: String)
    /// A local agent's process exited without being asked to.
    case agentExited(String, generation: UInt64, status: String)
    /// A process a `stopAgent` directive stopped has exited (its cgroup is
    /// empty), or there was none: a stopped record of it may be relaunched now.
    case agentStopped(String, generation: UInt64)
    /// The shell saw no callback for this long: the daemon was stopped
    /// (SIGSTOP) or its host frozen. Fed before anything else it then handles.
    case resumed(after: Duration)
    /// A local agent's process said hello on the agent socket.
    case agentConnected(String, generation: UInt64)
    /// A `deliver` found no session for the agent: hold the message instead.
    case agentUnreachable(AgentMessage, origin: RouteOrigin)
    /// A request of a local agent (`op` and the whole request line).
    case agentRequest(AgentOrigin, op: String, request: JSON)
    /// A local agent's `send` the shell read without parsing it: `payload` is the
    /// text `JSON.serialized()` prints for the request's payload (the hot path).
    case agentSend(AgentOrigin, to: String, payload: [UInt8])
    /// An operator command whose signature the shell checked: the signer's
    /// fingerprint and counter, the node it was signed for, and the signed
    /// request itself, which travels with the records and tombstones it creates.
    case operatorCommand(OperatorCommand, target: String?, issuer: String, counter: UInt64, proof: OperatorProof? = nil)
    /// A graceful stop began: no more relaunches or ticks; `leave` follows.
    case stopping
    /// Tell every member this node left.
    case leave
}
