extension Message {
    /// The node (or, for an agent message, the agent) the message says sent
    /// it: unproven, so it names a peer in refusal reports and grants nothing.
    public var sender: String {
        switch self {
        case .ping(_, let from, _, _, _), .pingReq(_, let from, _, _, _, _), .ack(_, let from, _), .nack(_, let from),
             .pushPull(let from, _, _, _, _), .agents(let from, _, _, _), .agentDigest(let from, _, _, _, _),
             .checkpoint(let from, _, _, _, _, _, _, _), .checkpointAck(let from, _, _, _), .checkpointFetch(let from, _),
             .checkpointOffer(let from, _, _), .relaunchRequest(let from, _, _, _),
             .tombstones(let from, _):
            from.name
        case .agentMessage(let from, _, _, _):
            from
        case .agentAck(let ack):
            ack.to
        }
    }
}
