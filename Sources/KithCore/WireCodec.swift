/// The binary form of `Message` on the gossip port.
///
/// A frame payload (the transport adds and strips the 4-byte length prefix) is
/// `[version: u8][type: u8][body]`. Bodies use `ByteWriter`'s primitives:
/// `seq` is a big-endian u32, incarnations and capacity are varints, flags
/// are one byte, lists are a varint count then their elements. The agent
/// messages (types 6-13) carry generations and sequence numbers as varints;
/// `WireCodec+Agents.swift` lays out specs and records.
///
/// Decoding is strict and canonical: every limit below is enforced, unknown
/// types, kinds, statuses and flag bits are rejected, tags must be in
/// ascending key order, and trailing bytes are an error, so a payload that
/// decodes re-encodes to exactly the same bytes. The encoder does not check
/// the limits: callers keep names, tags and lists within them (a node name is
/// configuration, so validate it at startup against `maxStringBytes`).
public enum WireCodec {
    public static let version: UInt8 = 1
    /// The largest payload the transport accepts.
    public static let maxFrameBytes = 4 << 20
    /// Limit on every string: node names, endpoints, tag keys and values, `by`.
    public static let maxStringBytes = 255
    public static let maxTags = 64
    public static let maxGossip = 256
    public static let maxStates = 100_000
    /// Generations, record versions, epochs and checkpoint sequence numbers
    /// stay at or below `Int64.max`: they convert to `Int64` (JSON, logs)
    /// without trapping, and the decoder refuses larger ones from a peer.
    public static let counterMax = UInt64(Int64.max)

    // Agent layer limits (see WireCodec+Agents.swift for the record layout).
    /// Agent names, wherever they appear: specs, `protects`, checkpoints, messages.
    public static let maxAgentNameBytes = 64
    /// An agent's command, each argument, each environment key and value, and its working directory.
    public static let maxAgentCommandBytes = 4096
    public static let maxAgentArgs = 256
    public static let maxAgentEnv = 256
    public static let maxAgentProtects = 256
    public static let maxAgentRecords = 100_000
    public static let maxCheckpointBytes = 64 << 10
    public static let maxAgentPayloadBytes = 1 << 20
    /// An operator proof's public key, signature and signed request (see `OperatorProof`).
    public static let proofKeyBytesMax = 64
    public static let proofSignatureBytesMax = 128
    public static let proofSignedBytesMax = 64 << 10
    /// A node's public key, its certificate and its signatures (see `NodeVerifier`).
    public static let nodeKeyBytesMax = 64
    public static let nodeCertificateBytesMax = 256
    public static let nodeSignatureBytesMax = 128

    private enum MessageType: UInt8 {
        case ping = 1, pingReq = 2, ack = 3, nack = 4, pushPull = 5
        case agents = 6, checkpoint = 7, checkpointAck = 8, agentMessage = 9, relaunchRequest = 10, tombstones = 11
        case agentDigest = 12, agentAck = 13, checkpointFetch = 14, checkpointOffer = 15
    }

    private enum GossipKind: UInt8 {
        case alive = 0, suspect = 1, dead = 2, left = 3
    }

    private static let isReplyFlag: UInt8 = 1
    private static let isJoinFlag: UInt8 = 2
    private static let wantsReplyFlag: UInt8 = 1
    private static let digestIsReplyFlag: UInt8 = 1

    // MARK: Encoding

    /// The payload of `message`. With `checkingLimits` (always, outside
    /// tests) every limit the decoder enforces is asserted in debug builds;
    /// without it, frames beyond the limits can be forged to test decoders.
    public static func encode(_ message: Message, checkingLimits: Bool = true) -> [UInt8] {
        var w = ByteWriter()
        w.checksLimits = checkingLimits
        w.u8(version)
        switch message {
        case let .ping(seq, from, replyTo, target, gossip):
            w.u8(MessageType.ping.rawValue)
            w.u32(seq)
            write(from, to: &w)
            w.string(replyTo, maxBytes: maxStringBytes)
            write(target, to: &w)
            write(gossip, to: &w)
        case let .pingReq(seq, from, replyTo, target, targetEndpoint, gossip):
            w.u8(MessageType.pingReq.rawValue)
            w.u32(seq)
            write(from, to: &w)
            w.string(replyTo, maxBytes: maxStringBytes)
            write(target, to: &w)
            w.string(targetEndpoint, maxBytes: maxStringBytes)
            write(gossip, to: &w)
        case let .ack(seq, from, gossip):
            w.u8(MessageType.ack.rawValue)
            w.u32(seq)
            write(from, to: &w)
            write(gossip, to: &w)
        case let .nack(seq, from):
            w.u8(MessageType.nack.rawValue)
            w.u32(seq)
            write(from, to: &w)
        case let .pushPull(from, replyTo, isReply, isJoin, states):
            w.u8(MessageType.pushPull.rawValue)
            write(from, to: &w)
            w.string(replyTo, maxBytes: maxStringBytes)
            w.u8((isReply ? isReplyFlag : 0) | (isJoin ? isJoinFlag : 0))
            w.count(states.count, max: maxStates)
            for state in states {
                write(state.id, to: &w)
                write(state.meta, to: &w)
                w.u8(state.status.rawValue)
                w.varint(UInt64(state.incarnation))
                w.bytes(state.signature, maxBytes: nodeSignatureBytesMax)
            }
        case let .agents(from, replyTo, wantsReply, records):
            w.u8(MessageType.agents.rawValue)
            write(from, to: &w)
            w.string(replyTo, maxBytes: maxStringBytes)
            w.u8(wantsReply ? wantsReplyFlag : 0)
            w.count(records.count, max: maxAgentRecords)
            for record in records { write(record, to: &w) }
        case let .agentDigest(from, replyTo, isReply, records, tombstones):
            w.u8(MessageType.agentDigest.rawValue)
            write(from, to: &w)
            w.string(replyTo, maxBytes: maxStringBytes)
            w.u8(isReply ? digestIsReplyFlag : 0)
            write(records, to: &w)
            write(tombstones, to: &w)
        case let .checkpoint(from, replyTo, agent, generation, seq, data, host, signature):
            w.u8(MessageType.checkpoint.rawValue)
            write(from, to: &w)
            w.string(replyTo, maxBytes: maxStringBytes)
            w.string(agent, maxBytes: maxAgentNameBytes)
            w.varint(generation, max: counterMax)
            w.varint(seq, max: counterMax)
            w.bytes(data, maxBytes: maxCheckpointBytes)
            w.string(host, maxBytes: maxStringBytes)
            w.bytes(signature, maxBytes: nodeSignatureBytesMax)
        case let .checkpointFetch(from, agent):
            w.u8(MessageType.checkpointFetch.rawValue)
            write(from, to: &w)
            w.string(agent, maxBytes: maxAgentNameBytes)
        case let .checkpointOffer(from, agent, checkpoint):
            w.u8(MessageType.checkpointOffer.rawValue)
            write(from, to: &w)
            w.string(agent, maxBytes: maxAgentNameBytes)
            write(checkpoint, to: &w)
        case let .checkpointAck(from, agent, generation, seq):
            w.u8(MessageType.checkpointAck.rawValue)
            write(from, to: &w)
            w.string(agent, maxBytes: maxAgentNameBytes)
            w.varint(generation, max: counterMax)
            w.varint(seq, max: counterMax)
        case let .agentMessage(from, to, payload, stamp):
            w.u8(MessageType.agentMessage.rawValue)
            w.string(from, maxBytes: maxAgentNameBytes)
            w.string(to, maxBytes: maxAgentNameBytes)
            w.bytes(payload, maxBytes: maxAgentPayloadBytes)
            write(stamp, to: &w)
        case .agentAck(let ack):
            w.u8(MessageType.agentAck.rawValue)
            write(ack, to: &w)
        case let .relaunchRequest(from, agent, generation, by):
            w.u8(MessageType.relaunchRequest.rawValue)
            write(from, to: &w)
            w.string(agent, maxBytes: maxAgentNameBytes)
            w.varint(generation, max: counterMax)
            w.string(by, maxBytes: maxStringBytes)
        case let .tombstones(from, tombstones):
            w.u8(MessageType.tombstones.rawValue)
            write(from, to: &w)
            w.count(tombstones.count, max: maxAgentRecords)
            for tombstone in tombstones { write(tombstone, to: &w) }
        }
        return w.bytes
    }

    static func write(_ id: NodeID, to w: inout ByteWriter) {
        w.string(id.name, maxBytes: maxStringBytes)
        w.u64(id.uid)
    }

    private static func write(_ meta: NodeMeta, to w: inout ByteWriter) {
        w.string(meta.endpoint, maxBytes: maxStringBytes)
        w.string(meta.control, maxBytes: maxStringBytes)
        w.string(meta.http, maxBytes: maxStringBytes)
        w.varint(UInt64(meta.capacity))
        w.count(meta.tags.count, max: maxTags)
        for (key, value) in meta.tags.sorted(by: { $0.key < $1.key }) {
            w.string(key, maxBytes: maxStringBytes)
            w.string(value, maxBytes: maxStringBytes)
        }
        w.bytes(meta.key, maxBytes: nodeKeyBytesMax)
        w.bytes(meta.certificate, maxBytes: nodeCertificateBytesMax)
    }

    private static func write(_ gossip: [Gossip], to w: inout ByteWriter) {
        w.count(gossip.count, max: maxGossip)
        for g in gossip {
            switch g {
            case let .alive(id, incarnation, meta):
                w.u8(GossipKind.alive.rawValue)
                write(id, to: &w)
                w.varint(UInt64(incarnation))
                write(meta, to: &w)
            case let .suspect(id, incarnation, by):
                w.u8(GossipKind.suspect.rawValue)
                write(id, to: &w)
                w.varint(UInt64(incarnation))
                w.string(by, maxBytes: maxStringBytes)
            case let .dead(id, incarnation, by):
                w.u8(GossipKind.dead.rawValue)
                write(id, to: &w)
                w.varint(UInt64(incarnation))
                w.string(by, maxBytes: maxStringBytes)
            case let .left(id, incarnation, signature):
                w.u8(GossipKind.left.rawValue)
                write(id, to: &w)
                w.varint(UInt64(incarnation))
                w.bytes(signature, maxBytes: nodeSignatureBytesMax)
            }
        }
    }

    // MARK: Decoding

    /// False when the payload names a version or message type this codec does not speak. A peer
    /// of a newer release may send such frames; the transport skips them (and counts them) instead
    /// of closing the connection that carries the rest of that peer's traffic. A payload too short
    /// to name both is malformed, not foreign: true, and `decode` refuses it.
    public static func speaks(_ payload: ArraySlice<UInt8>) -> Bool {
        guard payload.count >= 2 else { return true }
        return payload[payload.startIndex] == version && MessageType(rawValue: payload[payload.startIndex + 1]) != nil
    }

    public static func decode(_ payload: [UInt8]) throws(DecodeError) -> Message {
        try decode(payload[...])
    }

    public static func decode(_ payload: ArraySlice<UInt8>) throws(DecodeError) -> Message {
        var r = ByteReader(payload)
        let v = try r.u8()
        guard v == version else { throw DecodeError("unsupported version \(v)") }
        let rawType = try r.u8()
        guard let type = MessageType(rawValue: rawType) else { throw DecodeError("unknown message type \(rawType)") }
        let message: Message
        switch type {
        case .ping:
            message = .ping(seq: try r.u32(), from: try readNodeID(&r), replyTo: try readString(&r),
                            target: try readNodeID(&r), gossip: try readGossipList(&r))
        case .pingReq:
            message = .pingReq(seq: try r.u32(), from: try readNodeID(&r), replyTo: try readString(&r),
                               target: try readNodeID(&r), targetEndpoint: try readString(&r),
                               gossip: try readGossipList(&r))
        case .ack:
            message = .ack(seq: try r.u32(), from: try readNodeID(&r), gossip: try readGossipList(&r))
        case .nack:
            message = .nack(seq: try r.u32(), from: try readNodeID(&r))
        case .pushPull:
            let from = try readNodeID(&r)
            let replyTo = try readString(&r)
            let flags = try r.u8()
            guard flags & ~(isReplyFlag | isJoinFlag) == 0 else { throw DecodeError("unknown flags \(flags)") }
            message = .pushPull(from: from, replyTo: replyTo, isReply: flags & isReplyFlag != 0,
                                isJoin: flags & isJoinFlag != 0, states: try readStates(&r))
        case .agents:
            let from = try readNodeID(&r)
            let replyTo = try readString(&r)
            let flags = try r.u8()
            guard flags & ~wantsReplyFlag == 0 else { throw DecodeError("unknown flags \(flags)") }
            var records: [AgentRecord] = []
            for _ in 0..<(try r.count(max: maxAgentRecords)) { records.append(try readAgentRecord(&r)) }
            message = .agents(from: from, replyTo: replyTo, wantsReply: flags & wantsReplyFlag != 0, records: records)
        case .agentDigest:
            let from = try readNodeID(&r)
            let replyTo = try readString(&r)
            let flags = try r.u8()
            guard flags & ~digestIsReplyFlag == 0 else { throw DecodeError("unknown flags \(flags)") }
            message = .agentDigest(from: from, replyTo: replyTo, isReply: flags & digestIsReplyFlag != 0,
                                   records: try readRecordDigests(&r), tombstones: try readTombstoneDigests(&r))
        case .checkpoint:
            message = .checkpoint(from: try readNodeID(&r), replyTo: try readString(&r), agent: try readAgentName(&r),
                                  generation: try r.varint(max: counterMax), seq: try r.varint(max: counterMax),
                                  data: try r.bytes(maxBytes: maxCheckpointBytes), host: try readString(&r),
                                  signature: try r.bytes(maxBytes: nodeSignatureBytesMax))
        case .checkpointFetch:
            message = .checkpointFetch(from: try readNodeID(&r), agent: try readAgentName(&r))
        case .checkpointOffer:
            message = .checkpointOffer(from: try readNodeID(&r), agent: try readAgentName(&r), checkpoint: try readCheckpoint(&r))
        case .checkpointAck:
            message = .checkpointAck(from: try readNodeID(&r), agent: try readAgentName(&r),
                                     generation: try r.varint(max: counterMax), seq: try r.varint(max: counterMax))
        case .agentMessage:
            message = .agentMessage(from: try readAgentName(&r), to: try readAgentName(&r),
                                    payload: try r.bytes(maxBytes: maxAgentPayloadBytes), stamp: try readDeliveryStamp(&r))
        case .agentAck:
            message = .agentAck(try readMessageAck(&r))
        case .relaunchRequest:
            message = .relaunchRequest(from: try readNodeID(&r), agent: try readAgentName(&r),
                                       generation: try r.varint(max: counterMax), by: try readString(&r))
        case .tombstones:
            let from = try readNodeID(&r)
            var tombstones: [Tombstone] = []
            for _ in 0..<(try r.count(max: maxAgentRecords)) { tombstones.append(try readTombstone(&r)) }
            message = .tombstones(from: from, tombstones: tombstones)
        }
        guard r.isAtEnd else { throw DecodeError("\(r.remaining) trailing bytes after the message") }
        return message
    }

    static func readString(_ r: inout ByteReader) throws(DecodeError) -> String {
        try r.string(maxBytes: maxStringBytes)
    }

    static func readUInt32(_ r: inout ByteReader) throws(DecodeError) -> UInt32 {
        let v = try r.varint()
        guard let narrow = UInt32(exactly: v) else { throw DecodeError("value \(v) exceeds 32 bits") }
        return narrow
    }

    static func readNodeID(_ r: inout ByteReader) throws(DecodeError) -> NodeID {
        NodeID(name: try readString(&r), uid: try r.u64())
    }

    private static func readMeta(_ r: inout ByteReader) throws(DecodeError) -> NodeMeta {
        let endpoint = try readString(&r)
        let control = try readString(&r)
        let http = try readString(&r)
        let capacity = try readUInt32(&r)
        var tags: [String: String] = [:]
        var previousKey: String?
        for _ in 0..<(try r.count(max: maxTags)) {
            let key = try readString(&r)
            if let previousKey, !(previousKey < key) {
                throw DecodeError("tag keys not in ascending order")
            }
            tags[key] = try readString(&r)
            previousKey = key
        }
        return NodeMeta(endpoint: endpoint, control: control, http: http, capacity: capacity, tags: tags,
                        key: try r.bytes(maxBytes: nodeKeyBytesMax), certificate: try r.bytes(maxBytes: nodeCertificateBytesMax))
    }

    private static func readGossipList(_ r: inout ByteReader) throws(DecodeError) -> [Gossip] {
        var list: [Gossip] = []
        for _ in 0..<(try r.count(max: maxGossip)) {
            let rawKind = try r.u8()
            guard let kind = GossipKind(rawValue: rawKind) else { throw DecodeError("unknown gossip kind \(rawKind)") }
            let id = try readNodeID(&r)
            let incarnation = try readUInt32(&r)
            switch kind {
            case .alive: list.append(.alive(id, incarnation: incarnation, meta: try readMeta(&r)))
            case .suspect: list.append(.suspect(id, incarnation: incarnation, by: try readString(&r)))
            case .dead: list.append(.dead(id, incarnation: incarnation, by: try readString(&r)))
            case .left: list.append(.left(id, incarnation: incarnation, signature: try r.bytes(maxBytes: nodeSignatureBytesMax)))
            }
        }
        return list
    }

    private static func readStates(_ r: inout ByteReader) throws(DecodeError) -> [MemberState] {
        var states: [MemberState] = []
        for _ in 0..<(try r.count(max: maxStates)) {
            let id = try readNodeID(&r)
            let meta = try readMeta(&r)
            let rawStatus = try r.u8()
            guard let status = MemberStatus(rawValue: rawStatus) else {
                throw DecodeError("unknown member status \(rawStatus)")
            }
            states.append(MemberState(id: id, meta: meta, status: status, incarnation: try readUInt32(&r),
                                      signature: try r.bytes(maxBytes: nodeSignatureBytesMax)))
        }
        return states
    }
}
