/// The agent layer's parts of the wire format: `AgentSpec` and `AgentRecord`.
///
/// Layout of a spec: `name` (≤ `maxAgentNameBytes`), `command`, `args`
/// (count ≤ `maxAgentArgs`, each string), `env` (count ≤ `maxAgentEnv`, key
/// then value, keys strictly ascending like tags), `workingDirectory`,
/// `protects` (count ≤ `maxAgentProtects`, each an agent name), `policy` (one
/// byte), then the restart limits: `maxRestarts` varint, `window`,
/// `backoffBase`, `backoffMax` as varint whole milliseconds, `maxHandoffs`
/// varint. Command, arguments, environment keys and values and the working
/// directory are each at most `maxAgentCommandBytes`.
///
/// A record is its spec, then `generation` and `version` varints (each at
/// most `counterMax`), `host`
/// string, `hostUID` u64, `pid` as the u32 bit pattern, `state` (one byte),
/// `restarts` and `handoffs` varints (32-bit), `reason` and `updatedBy`
/// strings (≤ `maxStringBytes`), then its `authorization` as an optional
/// proof, its `stopProof` the same way, then its writer's `signature` (a byte string of at most
/// `nodeSignatureBytesMax`, empty on records every node computes alike).
///
/// An optional proof is a flag byte (0 absent, 1 present), then the key
/// (≤ `proofKeyBytesMax`), the signature (≤ `proofSignatureBytesMax`) and
/// the signed bytes (≤ `proofSignedBytesMax`), each a byte string. A
/// tombstone ends with its `proof` the same way.
///
/// Encoding is lossy only for values a valid spec does not have: durations
/// keep whole milliseconds (negative ones become zero, huge ones saturate),
/// negative counts become zero. Decoding is strict: what decodes re-encodes
/// to the same bytes.
extension WireCodec {
    // MARK: Encoding

    static func write(_ record: AgentRecord, to w: inout ByteWriter) {
        writeUnsigned(record, to: &w)
        w.bytes(record.signature, maxBytes: nodeSignatureBytesMax)
    }

    /// Every field of a record but its signature: what the signature covers.
    static func writeUnsigned(_ record: AgentRecord, to w: inout ByteWriter) {
        write(record.spec, to: &w)
        w.varint(record.generation, max: counterMax)
        w.varint(record.version, max: counterMax)
        w.string(record.host, maxBytes: maxStringBytes)
        w.u64(record.hostUID)
        w.u32(UInt32(bitPattern: record.pid))
        w.u8(byte(record.state))
        w.varint(UInt64(record.restarts))
        w.varint(UInt64(record.handoffs))
        w.string(record.reason, maxBytes: maxStringBytes)
        w.string(record.updatedBy, maxBytes: maxStringBytes)
        write(record.authorization, to: &w)
        write(record.stopProof, to: &w)
    }

    static func write(_ proof: OperatorProof?, to w: inout ByteWriter) {
        guard let proof else { return w.u8(0) }
        w.u8(1)
        w.bytes(proof.key, maxBytes: proofKeyBytesMax)
        w.bytes(proof.signature, maxBytes: proofSignatureBytesMax)
        w.bytes(proof.signed, maxBytes: proofSignedBytesMax)
    }

    static func readProof(_ r: inout ByteReader) throws(DecodeError) -> OperatorProof? {
        let flag = try r.u8()
        guard flag <= 1 else { throw DecodeError("bad proof flag \(flag)") }
        guard flag == 1 else { return nil }
        return OperatorProof(key: try r.bytes(maxBytes: proofKeyBytesMax),
                             signature: try r.bytes(maxBytes: proofSignatureBytesMax),
                             signed: try r.bytes(maxBytes: proofSignedBytesMax))
    }

    static func write(_ spec: AgentSpec, to w: inout ByteWriter) {
        w.string(spec.name, maxBytes: maxAgentNameBytes)
        w.string(spec.command, maxBytes: maxAgentCommandBytes)
        w.count(spec.args.count, max: maxAgentArgs)
        for arg in spec.args { w.string(arg, maxBytes: maxAgentCommandBytes) }
        w.count(spec.env.count, max: maxAgentEnv)
        for (key, value) in spec.env.sorted(by: { $0.key < $1.key }) {
            w.string(key, maxBytes: maxAgentCommandBytes)
            w.string(value, maxBytes: maxAgentCommandBytes)
        }
        w.string(spec.workingDirectory, maxBytes: maxAgentCommandBytes)
        w.count(spec.protects.count, max: maxAgentProtects)
        for name in spec.protects { w.string(name, maxBytes: maxAgentNameBytes) }
        w.u8(byte(spec.policy))
        w.varint(UInt64(clamping: spec.limits.maxRestarts))
        w.varint(milliseconds(spec.limits.window))
        w.varint(milliseconds(spec.limits.backoffBase))
        w.varint(milliseconds(spec.limits.backoffMax))
        w.varint(UInt64(clamping: spec.limits.maxHandoffs))
    }

    /// Whole milliseconds, saturating at `Int64.max` and flooring negatives to zero.
    static func milliseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return UInt64(Int64.max) }
        let (ms, carry) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        return UInt64(carry ? Int64.max : ms)
    }

    static func byte(_ policy: PreservationPolicy) -> UInt8 {
        switch policy {
        case .none: 0
        case .relaunch: 1
        case .relaunchAndMask: 2
        }
    }

    static func byte(_ state: AgentState) -> UInt8 {
        switch state {
        case .starting: 0
        case .running: 1
        case .lost: 2
        case .relaunching: 3
        case .stopped: 4
        case .failed: 5
        case .killed: 6
        case .quarantined: 7
        }
    }

    // MARK: Decoding

    static func readAgentName(_ r: inout ByteReader) throws(DecodeError) -> String {
        try r.string(maxBytes: maxAgentNameBytes)
    }

    static func readAgentRecord(_ r: inout ByteReader) throws(DecodeError) -> AgentRecord {
        let spec = try readAgentSpec(&r)
        let generation = try r.varint(max: counterMax)
        let version = try r.varint(max: counterMax)
        let host = try readString(&r)
        let hostUID = try r.u64()
        let pid = Int32(bitPattern: try r.u32())
        let state = try readAgentState(&r)
        let restarts = try readUInt32(&r)
        let handoffs = try readUInt32(&r)
        let reason = try readString(&r)
        let updatedBy = try readString(&r)
        let authorization = try readProof(&r)
        let stopProof = try readProof(&r)
        return AgentRecord(spec: spec, generation: generation, version: version, host: host, hostUID: hostUID,
                           pid: pid, state: state, restarts: restarts, handoffs: handoffs, reason: reason,
                           updatedBy: updatedBy, authorization: authorization, stopProof: stopProof,
                           signature: try r.bytes(maxBytes: nodeSignatureBytesMax))
    }

    static func readAgentSpec(_ r: inout ByteReader) throws(DecodeError) -> AgentSpec {
        let name = try readAgentName(&r)
        let command = try r.string(maxBytes: maxAgentCommandBytes)
        var args: [String] = []
        for _ in 0..<(try r.count(max: maxAgentArgs)) {
            args.append(try r.string(maxBytes: maxAgentCommandBytes))
        }
        var env: [String: String] = [:]
        var previousKey: String?
        for _ in 0..<(try r.count(max: maxAgentEnv)) {
            let key = try r.string(maxBytes: maxAgentCommandBytes)
            if let previousKey, !(previousKey < key) {
                throw DecodeError("env keys not in ascending order")
            }
            env[key] = try r.string(maxBytes: maxAgentCommandBytes)
            previousKey = key
        }
        let workingDirectory = try r.string(maxBytes: maxAgentCommandBytes)
        var protects: [String] = []
        for _ in 0..<(try r.count(max: maxAgentProtects)) {
            protects.append(try readAgentName(&r))
        }
        let policy = try readPolicy(&r)
        var limits = RestartLimits()
        limits.maxRestarts = try readInt(&r)
        limits.window = try readMilliseconds(&r)
        limits.backoffBase = try readMilliseconds(&r)
        limits.backoffMax = try readMilliseconds(&r)
        limits.maxHandoffs = try readInt(&r)
        return AgentSpec(name: name, command: command, args: args, env: env, workingDirectory: workingDirectory,
                         protects: protects, policy: policy, limits: limits)
    }

    static func readPolicy(_ r: inout ByteReader) throws(DecodeError) -> PreservationPolicy {
        let raw = try r.u8()
        switch raw {
        case 0: return .none
        case 1: return .relaunch
        case 2: return .relaunchAndMask
        default: throw DecodeError("unknown preservation policy \(raw)")
        }
    }

    static func readAgentState(_ r: inout ByteReader) throws(DecodeError) -> AgentState {
        let raw = try r.u8()
        switch raw {
        case 0: return .starting
        case 1: return .running
        case 2: return .lost
        case 3: return .relaunching
        case 4: return .stopped
        case 5: return .failed
        case 6: return .killed
        case 7: return .quarantined
        default: throw DecodeError("unknown agent state \(raw)")
        }
    }

    /// A non-negative `Int` (what `UInt64(clamping:)` wrote).
    static func readInt(_ r: inout ByteReader) throws(DecodeError) -> Int {
        let v = try r.varint()
        guard let narrow = Int(exactly: v) else { throw DecodeError("value \(v) exceeds Int") }
        return narrow
    }

    /// Whole milliseconds up to `Int64.max` (what `milliseconds(_:)` wrote).
    static func readMilliseconds(_ r: inout ByteReader) throws(DecodeError) -> Duration {
        let v = try r.varint()
        guard let ms = Int64(exactly: v) else { throw DecodeError("duration \(v) ms exceeds 63 bits") }
        return .milliseconds(ms)
    }

    // MARK: Tombstones

    static func write(_ tombstone: Tombstone, to w: inout ByteWriter) {
        w.string(tombstone.agent, maxBytes: maxAgentNameBytes)
        w.varint(tombstone.epoch, max: counterMax)
        w.u8(tombstone.kind.rawValue)
        w.string(tombstone.reason, maxBytes: maxStringBytes)
        w.string(tombstone.issuedBy, maxBytes: maxStringBytes)
        write(tombstone.proof, to: &w)
    }

    static func readTombstone(_ r: inout ByteReader) throws(DecodeError) -> Tombstone {
        let agent = try readAgentName(&r)
        let epoch = try r.varint(max: counterMax)
        let flag = try r.u8()
        guard let kind = Tombstone.Kind(rawValue: flag) else { throw DecodeError("bad tombstone kind \(flag)") }
        return Tombstone(agent: agent, epoch: epoch, kind: kind, reason: try readString(&r),
                         issuedBy: try readString(&r), proof: try readProof(&r))
    }
}

/// Agent message frames' delivery fields. A message (type 9) ends with its
/// stamp: a flag byte (0 none, the operator's; 1 present), then `generation`
/// (≤ `counterMax`), `seq` (1...`counterMax`), `base` (1...`seq`) varints and
/// the `replyTo` endpoint (≤ `maxStringBytes`). An acknowledgement (type 13)
/// is `from` and `to` agent names, `generation` and `seq` (1...`counterMax`)
/// varints and an outcome byte (0 delivered, 1 fenced).
extension WireCodec {
    static func write(_ stamp: DeliveryStamp?, to w: inout ByteWriter) {
        guard let stamp else { return w.u8(0) }
        assert(!w.checksLimits || (1...stamp.seq).contains(stamp.base), "stamp base \(stamp.base) outside 1...\(stamp.seq)")
        w.u8(1)
        w.varint(stamp.generation, max: counterMax)
        w.varint(stamp.seq, max: counterMax)
        w.varint(stamp.base, max: stamp.seq)
        w.string(stamp.replyTo, maxBytes: maxStringBytes)
    }

    static func readDeliveryStamp(_ r: inout ByteReader) throws(DecodeError) -> DeliveryStamp? {
        let flag = try r.u8()
        guard flag <= 1 else { throw DecodeError("bad stamp flag \(flag)") }
        guard flag == 1 else { return nil }
        let generation = try r.varint(max: counterMax)
        let seq = try r.varint(max: counterMax)
        guard seq >= 1 else { throw DecodeError("message seq 0") }
        let base = try r.varint(max: seq)
        guard base >= 1 else { throw DecodeError("message base 0") }
        return DeliveryStamp(generation: generation, seq: seq, base: base, replyTo: try readString(&r))
    }

    static func write(_ ack: MessageAck, to w: inout ByteWriter) {
        assert(!w.checksLimits || ack.seq >= 1, "acknowledgement of seq 0")
        w.string(ack.from, maxBytes: maxAgentNameBytes)
        w.string(ack.to, maxBytes: maxAgentNameBytes)
        w.varint(ack.generation, max: counterMax)
        w.varint(ack.seq, max: counterMax)
        w.u8(ack.outcome.rawValue)
    }

    static func readMessageAck(_ r: inout ByteReader) throws(DecodeError) -> MessageAck {
        let from = try readAgentName(&r)
        let to = try readAgentName(&r)
        let generation = try r.varint(max: counterMax)
        let seq = try r.varint(max: counterMax)
        guard seq >= 1 else { throw DecodeError("acknowledgement of seq 0") }
        let raw = try r.u8()
        guard let outcome = MessageAck.Outcome(rawValue: raw) else { throw DecodeError("unknown acknowledgement outcome \(raw)") }
        return MessageAck(from: from, generation: generation, to: to, seq: seq, outcome: outcome)
    }
}
