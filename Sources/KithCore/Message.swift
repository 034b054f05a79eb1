/// A rumour about one member, piggybacked on probes (SWIM 4.1) and exchanged
/// whole in push-pull.
public enum Gossip: Hashable, Sendable {
    /// The member is alive at `incarnation`, with its metadata.
    case alive(NodeID, incarnation: UInt32, meta: NodeMeta)
    /// `by` suspects the member at `incarnation`.
    case suspect(NodeID, incarnation: UInt32, by: String)
    /// `by` declared the member dead at `incarnation`.
    case dead(NodeID, incarnation: UInt32, by: String)
    /// The member left gracefully at `incarnation`, signed by the member
    /// itself over `NodeStatement.left`: nobody else may say it left.
    case left(NodeID, incarnation: UInt32, signature: [UInt8] = [])

    /// The member the rumour is about.
    public var subject: NodeID {
        switch self {
        case .alive(let id, _, _), .suspect(let id, _, _), .dead(let id, _, _), .left(let id, _, _): id
        }
    }

    public var incarnation: UInt32 {
        switch self {
        case .alive(_, let i, _), .suspect(_, let i, _), .dead(_, let i, _), .left(_, let i, _): i
        }
    }
}

/// A member's whole state, as sent in push-pull (the periodic full sync that
/// lets joins converge fast and partitions re-merge).
public struct MemberState: Hashable, Sendable {
    public var id: NodeID
    public var meta: NodeMeta
    public var status: MemberStatus
    public var incarnation: UInt32
    /// For `left`, the member's own signature over `NodeStatement.left`; empty otherwise.
    public var signature: [UInt8]

    public init(id: NodeID, meta: NodeMeta, status: MemberStatus, incarnation: UInt32, signature: [UInt8] = []) {
        self.id = id
        self.meta = meta
        self.status = status
        self.incarnation = incarnation
        self.signature = signature
    }
}

/// Everything one daemon says to another on the gossip port.
public enum Message: Hashable, Sendable {
    /// Direct probe. `target` lets a restarted node ignore probes meant for its previous boot.
    case ping(seq: UInt32, from: NodeID, replyTo: Endpoint, target: NodeID, gossip: [Gossip])
    /// Ask `from`'s peer to probe `target` on its behalf (SWIM 4.1 indirect probe).
    case pingReq(seq: UInt32, from: NodeID, replyTo: Endpoint, target: NodeID, targetEndpoint: Endpoint, gossip: [Gossip])
    /// Answer to a ping (or a relayed answer to a ping-req).
    case ack(seq: UInt32, from: NodeID, gossip: [Gossip])
    /// An indirect prober's "I tried and heard nothing" (Lifeguard IV.A), so the
    /// origin can tell a dead target from its own slowness.
    case nack(seq: UInt32, from: NodeID)
    /// Full state exchange. `isReply` stops the echo; `isJoin` marks a joiner's first contact.
    case pushPull(from: NodeID, replyTo: Endpoint, isReply: Bool, isJoin: Bool, states: [MemberState])

    /// Agent registry records: a change pushed to every member, the records a
    /// digest showed a peer lacks, or a whole registry (`wantsReply` asks for
    /// the receiver's own).
    case agents(from: NodeID, replyTo: Endpoint, wantsReply: Bool, records: [AgentRecord])
    /// Anti-entropy: the digest of the sender's whole registry (a stamp per
    /// record and per tombstone, no proofs). The receiver pushes the full
    /// records and tombstones it holds newer, and when the sender holds newer
    /// ones it answers with its own digest (`isReply`, which stops the echo)
    /// so that the sender pushes them: one round trip settles both sides.
    case agentDigest(from: NodeID, replyTo: Endpoint, isReply: Bool, records: [RecordDigest], tombstones: [TombstoneDigest])
    /// An agent's checkpoint, replicated so a node loss loses no acknowledged one.
    /// `host` ran the agent at `generation` and signed `NodeStatement.checkpoint`;
    /// a relayed copy carries its signature unchanged.
    case checkpoint(from: NodeID, replyTo: Endpoint, agent: String, generation: UInt64, seq: UInt64, data: [UInt8],
                    host: String = "", signature: [UInt8] = [])
    /// The receiver holds that checkpoint.
    case checkpointAck(from: NodeID, agent: String, generation: UInt64, seq: UInt64)
    /// The sender is about to start `agent` and asks for the newest checkpoint
    /// the receiver holds; the answer goes to the sender's endpoint in the
    /// receiver's own view, never to an address the frame names.
    case checkpointFetch(from: NodeID, agent: String)
    /// The answer to a `checkpointFetch`: the checkpoint held, or nil (none).
    /// A held one carries its host's signature, so no relay can forge it.
    case checkpointOffer(from: NodeID, agent: String, checkpoint: Checkpoint?)
    /// A message from one agent to another, routed to wherever the receiver runs now;
    /// an agent's own messages carry their place in its stream (the operator's do not).
    case agentMessage(from: String, to: String, payload: [UInt8], stamp: DeliveryStamp? = nil)
    /// The receiving daemon delivered a sender's stream up to a place, or refused a stale copy's message.
    case agentAck(MessageAck)
    /// Ask the node chosen by placement to relaunch `agent`, lost at `generation`; `by` names who asked.
    case relaunchRequest(from: NodeID, agent: String, generation: UInt64, by: String)
    /// Kill-switch tombstones (and revivals), spread like records so a node
    /// that was cut off fences the agent as soon as it hears.
    case tombstones(from: NodeID, tombstones: [Tombstone])
}
