import XCTest
@testable import KithCore

final class WireCodecAgentTests: XCTestCase {
    // MARK: Fixtures

    private let alice = NodeID(name: "alice", uid: 0x0123_4567_89AB_CDEF)
    private let unicode = NodeID(name: "nœud-東京-🚀", uid: .max)

    private var fullLimits: RestartLimits {
        var limits = RestartLimits()
        limits.maxRestarts = 1000
        limits.window = .seconds(3600)
        limits.backoffBase = .milliseconds(1)
        limits.backoffMax = .milliseconds(123_456)
        limits.maxHandoffs = .max
        return limits
    }

    private var richSpec: AgentSpec {
        AgentSpec(name: "gärtner-東京_1.0", command: "/usr/local/bin/kith-agent",
                  args: ["--policy", "relaunch-and-mask", "", "ünïcødé 🚀", String(repeating: "x", count: 4096)],
                  env: ["PATH": "/usr/bin:/bin", "LANG": "de_DE.UTF-8", "EMPTY": "", "ÄÖÜ": "東京"],
                  workingDirectory: "/var/lib/kith/agents/gärtner", protects: ["a", "b-2", "東京"],
                  policy: .relaunchAndMask, limits: fullLimits)
    }

    private var bareSpec: AgentSpec { AgentSpec(name: "a", command: "x") }

    private var manySpec: AgentSpec {
        AgentSpec(name: String(repeating: "n", count: 64), command: String(repeating: "c", count: 4096),
                  args: (0..<WireCodec.maxAgentArgs).map { "arg-\($0)" },
                  env: Dictionary(uniqueKeysWithValues: (0..<WireCodec.maxAgentEnv).map { ("K\($0)", "v\($0)") }),
                  workingDirectory: String(repeating: "/d", count: 2048),
                  protects: (0..<WireCodec.maxAgentProtects).map { "p\($0)" }, policy: .relaunch)
    }

    /// One record per state and policy, with edge values in the numeric fields.
    private var records: [AgentRecord] {
        let specs = [richSpec, bareSpec, manySpec]
        let policies = PreservationPolicy.allCases
        return AgentState.allCases.enumerated().map { n, state in
            var spec = specs[n % specs.count]
            spec.policy = policies[n % policies.count]
            return AgentRecord(spec: spec, generation: n == 0 ? WireCodec.counterMax : UInt64(n), version: UInt64(n) << 40,
                               host: n.isMultiple(of: 2) ? "node-東京" : "", hostUID: n == 1 ? .max : UInt64(n),
                               pid: [Int32.min, -1, 0, 1, 4242, Int32.max, 7, 8][n], state: state,
                               restarts: n == 2 ? .max : UInt32(n), handoffs: UInt32(n * 3),
                               reason: n == 3 ? "exited with status 137 — killed 🔪" : "",
                               updatedBy: n.isMultiple(of: 3) ? "bob" : "")
        }
    }

    private var maxCheckpoint: [UInt8] { (0..<WireCodec.maxCheckpointBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) } }

    private var messages: [Message] {
        [
            .agents(from: alice, replyTo: "10.0.0.1:7946", wantsReply: true, records: records),
            .agents(from: unicode, replyTo: "", wantsReply: false, records: []),
            .agents(from: alice, replyTo: "x", wantsReply: false, records: [records[1]]),
            .checkpoint(from: alice, replyTo: "10.0.0.1:7946", agent: "gärtner", generation: 3, seq: 17, data: [0, 1, 255]),
            .checkpoint(from: unicode, replyTo: "", agent: "", generation: WireCodec.counterMax, seq: WireCodec.counterMax, data: []),
            .checkpoint(from: alice, replyTo: "[::1]:1", agent: String(repeating: "a", count: 64), generation: 0, seq: 0,
                        data: maxCheckpoint),
            .checkpointAck(from: alice, agent: "gärtner", generation: 3, seq: 17),
            .checkpointAck(from: unicode, agent: "", generation: WireCodec.counterMax, seq: 0),
            .checkpointFetch(from: alice, agent: "gärtner"),
            .checkpointFetch(from: unicode, agent: ""),
            .checkpointOffer(from: alice, agent: "gärtner", checkpoint: nil),
            .checkpointOffer(from: unicode, agent: "a", checkpoint: Checkpoint(generation: 3, seq: 17, data: [0, 1, 255], host: "東京",
                                                                               signature: [UInt8](repeating: 7, count: 64))),
            .checkpointOffer(from: alice, agent: String(repeating: "a", count: 64),
                             checkpoint: Checkpoint(generation: WireCodec.counterMax, seq: WireCodec.counterMax, data: maxCheckpoint)),
            .agentMessage(from: "gärtner", to: "東京", payload: Array("hello 🚀".utf8)),
            .agentMessage(from: "", to: "", payload: []),
            .relaunchRequest(from: alice, agent: "gärtner", generation: 4, by: "bob-東京"),
            .relaunchRequest(from: unicode, agent: "", generation: WireCodec.counterMax, by: ""),
            .tombstones(from: alice, tombstones: [
                Tombstone(agent: "gärtner", epoch: 7, active: true, reason: "kill-switch 🔪", issuedBy: "op-1a2b"),
                Tombstone(agent: "b", epoch: WireCodec.counterMax, active: false, reason: "", issuedBy: ""),
            ]),
            .tombstones(from: unicode, tombstones: []),
        ]
    }

    /// The messages small enough to fuzz and cut exhaustively (cutting is quadratic in the size).
    private var smallMessages: [Message] { messages.filter { WireCodec.encode($0).count < 4096 } }

    /// The rest, cut and mutated at a sample of positions.
    private var largeMessages: [Message] { messages.filter { WireCodec.encode($0).count >= 4096 } }

    /// Every position near the start and the end, and every `step`-th in between.
    private func samplePositions(_ count: Int, step: Int = 997) -> [Int] {
        Array(Set(Array(0..<min(count, 200)) + Array(stride(from: 0, to: count, by: step))
                  + Array(max(0, count - 200)..<count))).sorted()
    }

    private func frame(type: UInt8, _ body: (inout ByteWriter) -> Void) -> [UInt8] {
        var w = ByteWriter()
        w.u8(WireCodec.version)
        w.u8(type)
        body(&w)
        return w.bytes
    }

    /// An `agents` message carrying one record whose body is written by `record`.
    private func agentsFrame(records count: UInt64 = 1, _ record: (inout ByteWriter) -> Void) -> [UInt8] {
        frame(type: 6) { w in
            WireCodec.write(alice, to: &w)
            w.string("")
            w.u8(0)
            w.varint(count)
            record(&w)
        }
    }

    /// A record's fields after its spec, with `state` as given.
    private func recordTail(state: UInt8 = 1, restarts: UInt64 = 0, signature: [UInt8] = [], to w: inout ByteWriter) {
        w.varint(1)
        w.varint(0)
        w.string("h")
        w.u64(1)
        w.u32(7)
        w.u8(state)
        w.varint(restarts)
        w.varint(0)
        w.string("")
        w.string("")
        w.u8(0)  // no operator proof
        w.u8(0)  // no signed stop
        w.bytes(signature)
    }

    /// A spec with fields written by hand; `env` in the order given.
    private func writeSpec(env: [(String, String)] = [], policy: UInt8 = 0, maxRestarts: UInt64 = 3,
                           window: UInt64 = 30_000, to w: inout ByteWriter) {
        w.string("a")
        w.string("cmd")
        w.varint(0)
        w.varint(UInt64(env.count))
        for (k, v) in env { w.string(k); w.string(v) }
        w.string("")
        w.varint(0)
        w.u8(policy)
        w.varint(maxRestarts)
        w.varint(window)
        w.varint(5)
        w.varint(2000)
        w.varint(3)
    }

    private func handMadeRecord(env: [(String, String)] = [], policy: UInt8 = 0, maxRestarts: UInt64 = 3,
                                window: UInt64 = 30_000, state: UInt8 = 1, restarts: UInt64 = 0) -> [UInt8] {
        agentsFrame { w in
            writeSpec(env: env, policy: policy, maxRestarts: maxRestarts, window: window, to: &w)
            recordTail(state: state, restarts: restarts, to: &w)
        }
    }

    private func record(_ spec: AgentSpec, host: String = "h", reason: String = "", updatedBy: String = "") -> Message {
        .agents(from: alice, replyTo: "", wantsReply: false,
                records: [AgentRecord(spec: spec, generation: 1, host: host, hostUID: 1, state: .running,
                                      reason: reason, updatedBy: updatedBy)])
    }

    // MARK: Round trips and layout

    func test_roundTrip_everyAgentMessageCase_shouldDecodeToEqualMessage() throws {
        for message in messages {
            let payload = WireCodec.encode(message)
            let decoded = try WireCodec.decode(payload)
            XCTAssertEqual(decoded, message)
            XCTAssertEqual(WireCodec.encode(decoded), payload)
        }
    }

    func test_roundTrip_records_shouldCoverEveryStateAndPolicy() {
        XCTAssertEqual(Set(records.map(\.state)), Set(AgentState.allCases))
        XCTAssertEqual(Set(records.map(\.spec.policy)), Set(PreservationPolicy.allCases))
    }

    func test_decodedRecord_shouldEqualAndHashLikeOriginal() throws {
        for original in records {
            let decoded = try WireCodec.decode(WireCodec.encode(.agents(from: alice, replyTo: "", wantsReply: false,
                                                                       records: [original])))
            guard case let .agents(_, _, _, list) = decoded, list.count == 1 else { return XCTFail("\(decoded)") }
            XCTAssertEqual(list[0], original)
            XCTAssertEqual(list[0].hashValue, original.hashValue)
            XCTAssertTrue(Set([original]).contains(list[0]))
            XCTAssertEqual(list[0].spec.limits, original.spec.limits)
            XCTAssertFalse(list[0].supersedes(original))
            XCTAssertFalse(original.supersedes(list[0]))
        }
    }

    func test_roundTrip_recordsAtLimit_shouldSucceed() throws {
        let one = AgentRecord(spec: AgentSpec(name: "", command: ""), generation: 0, host: "", hostUID: 0,
                              state: .starting, updatedBy: "")
        let message = Message.agents(from: alice, replyTo: "", wantsReply: true,
                                     records: Array(repeating: one, count: WireCodec.maxAgentRecords))
        let payload = WireCodec.encode(message)
        XCTAssertLessThanOrEqual(payload.count, WireCodec.maxFrameBytes)
        XCTAssertEqual(try WireCodec.decode(payload), message)
    }

    func test_encode_header_shouldCarryTypes6Through11And14And15() {
        let types = smallMessages.map { WireCodec.encode($0)[1] }
        XCTAssertEqual(types, [6, 6, 7, 7, 8, 8, 14, 14, 15, 15, 9, 9, 10, 10, 11, 11])
        XCTAssertEqual(largeMessages.map { WireCodec.encode($0)[1] }, [6, 7, 15])
    }

    func test_encode_agentMessageAndAck_shouldMatchGoldenBytes() {
        XCTAssertEqual(WireCodec.encode(.agentMessage(from: "é", to: "b", payload: [9, 8])),
                       [1, 9, 2, 0xC3, 0xA9, 1, 0x62, 2, 9, 8, 0])
        XCTAssertEqual(WireCodec.encode(.checkpointAck(from: NodeID(name: "n", uid: 2), agent: "a", generation: 300, seq: 1)),
                       [1, 8, 1, 0x6E, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0x61, 0xAC, 0x02, 1])
        XCTAssertEqual(WireCodec.encode(.relaunchRequest(from: NodeID(name: "", uid: 0), agent: "a", generation: 5, by: "z")),
                       [1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x61, 5, 1, 0x7A])
    }

    func test_encode_record_shouldMatchGoldenLayout() {
        var limits = RestartLimits()
        limits.maxRestarts = 2
        limits.window = .seconds(1)
        limits.backoffBase = .milliseconds(5)
        limits.backoffMax = .milliseconds(127)
        limits.maxHandoffs = 4
        let spec = AgentSpec(name: "a", command: "c", args: ["x"], env: ["k": "v", "j": ""], workingDirectory: "/",
                             protects: ["p"], policy: .relaunchAndMask, limits: limits)
        let record = AgentRecord(spec: spec, generation: 1, version: 2, host: "h", hostUID: 3, pid: -2,
                                 state: .failed, restarts: 6, handoffs: 7, reason: "r", updatedBy: "u", signature: [9, 8])
        var w = ByteWriter()
        WireCodec.write(record, to: &w)
        XCTAssertEqual(w.bytes, [
            1, 0x61, 1, 0x63,                   // name, command
            1, 1, 0x78,                         // args
            2, 1, 0x6A, 0, 1, 0x6B, 1, 0x76,    // env, sorted by key
            1, 0x2F,                            // working directory
            1, 1, 0x70,                         // protects
            2,                                  // relaunch-and-mask
            2, 0xE8, 0x07, 5, 127, 4,           // maxRestarts, 1000 ms, 5 ms, 127 ms, maxHandoffs
            1, 2,                               // generation, version
            1, 0x68, 0, 0, 0, 0, 0, 0, 0, 3,    // host, hostUID
            0xFF, 0xFF, 0xFF, 0xFE,             // pid -2
            5, 6, 7,                            // failed, restarts, handoffs
            1, 0x72, 1, 0x75,                   // reason, updatedBy
            0,                                  // no operator proof
            0,                                  // no signed stop
            2, 9, 8,                            // the writer's signature
        ])
    }

    func test_decode_recordSignatureBeyondItsLimit_shouldReturnError() throws {
        func frame(_ signature: [UInt8]) -> [UInt8] {
            agentsFrame { w in
                writeSpec(to: &w)
                recordTail(signature: signature, to: &w)
            }
        }
        let atLimit = [UInt8](repeating: 7, count: WireCodec.nodeSignatureBytesMax)
        guard case let .agents(_, _, _, list) = try WireCodec.decode(frame(atLimit)) else { return XCTFail() }
        XCTAssertEqual(list.first?.signature, atLimit)
        XCTAssertNotNil(decodeError(frame(atLimit + [7])))
    }

    func test_encode_proof_shouldFollowTheRecordAndTombstone_andRoundTrip() throws {
        let proof = OperatorProof(key: [1, 2], signature: [3], signed: [4, 5, 6])
        var w = ByteWriter()
        WireCodec.write(proof, to: &w)
        XCTAssertEqual(w.bytes, [1, 2, 1, 2, 1, 3, 3, 4, 5, 6])
        let record = AgentRecord(spec: bareSpec, generation: 1, host: "h", hostUID: 1, state: .running, updatedBy: "u",
                                 authorization: proof)
        let tombstone = Tombstone(agent: "a", epoch: 2, active: true, reason: "", issuedBy: "", proof: proof)
        for message: Message in [.agents(from: alice, replyTo: "", wantsReply: false, records: [record]),
                                 .tombstones(from: alice, tombstones: [tombstone])] {
            XCTAssertEqual(try WireCodec.decode(WireCodec.encode(message)), message)
        }
    }

    func test_decode_proofBadFlagOrBeyondItsLimits_shouldReturnError() {
        func frame(_ body: (inout ByteWriter) -> Void) -> [UInt8] {
            var w = ByteWriter()
            w.checksLimits = false
            w.u8(WireCodec.version)
            w.u8(11)
            WireCodec.write(alice, to: &w)
            w.varint(1)
            w.string("a")
            w.varint(1)
            w.u8(1)
            w.string("")
            w.string("")
            body(&w)
            return w.bytes
        }
        XCTAssertEqual(decodeError(frame { $0.u8(2) })?.message, "bad proof flag 2")
        XCTAssertNotNil(decodeError(frame { w in
            w.u8(1)
            w.bytes([UInt8](repeating: 0, count: WireCodec.proofKeyBytesMax + 1))
            w.bytes([])
            w.bytes([])
        }))
        XCTAssertNotNil(decodeError(frame { w in
            w.u8(1)
            w.bytes([])
            w.bytes([])
            w.bytes([UInt8](repeating: 0, count: WireCodec.proofSignedBytesMax + 1))
        }))
        XCTAssertNoThrow(try WireCodec.decode(frame { w in
            w.u8(1)
            w.bytes([UInt8](repeating: 0, count: WireCodec.proofKeyBytesMax))
            w.bytes([UInt8](repeating: 0, count: WireCodec.proofSignatureBytesMax))
            w.bytes([UInt8](repeating: 0, count: WireCodec.proofSignedBytesMax))
        }))
    }

    func test_encode_enums_shouldUseDeclarationOrder() {
        XCTAssertEqual(PreservationPolicy.allCases.map(WireCodec.byte), [0, 1, 2])
        XCTAssertEqual(AgentState.allCases.map(WireCodec.byte), [0, 1, 2, 3, 4, 5, 6, 7])
    }

    func test_encode_durations_shouldKeepWholeMilliseconds_andClampOutOfRange() throws {
        XCTAssertEqual(WireCodec.milliseconds(.seconds(30)), 30_000)
        XCTAssertEqual(WireCodec.milliseconds(.microseconds(1_999)), 1)
        XCTAssertEqual(WireCodec.milliseconds(.zero), 0)
        XCTAssertEqual(WireCodec.milliseconds(.seconds(-1)), 0)
        XCTAssertEqual(WireCodec.milliseconds(.milliseconds(-5)), 0)
        XCTAssertEqual(WireCodec.milliseconds(.seconds(Int64.max)), UInt64(Int64.max))
        XCTAssertEqual(WireCodec.milliseconds(.milliseconds(Int64.max)), UInt64(Int64.max))

        var spec = bareSpec
        spec.limits.window = .microseconds(2_500)
        spec.limits.backoffBase = .seconds(-3)
        spec.limits.maxRestarts = -1
        let decoded = try WireCodec.decode(WireCodec.encode(record(spec)))
        guard case let .agents(_, _, _, list) = decoded else { return XCTFail() }
        XCTAssertEqual(list[0].spec.limits.window, .milliseconds(2))
        XCTAssertEqual(list[0].spec.limits.backoffBase, .zero)
        XCTAssertEqual(list[0].spec.limits.maxRestarts, 0)
    }

    func test_decode_durationAtInt64Max_shouldSucceed_andBeyond_shouldReturnError() throws {
        XCTAssertNoThrow(try WireCodec.decode(handMadeRecord(window: UInt64(Int64.max))))
        XCTAssertEqual(decodeError(handMadeRecord(window: UInt64(Int64.max) + 1))?.message,
                       "duration 9223372036854775808 ms exceeds 63 bits")
        XCTAssertEqual(decodeError(handMadeRecord(maxRestarts: .max))?.message, "value 18446744073709551615 exceeds Int")
    }

    // MARK: Enums, flags, order, trailing data

    func test_decode_unknownPolicyOrState_shouldReturnError() {
        XCTAssertNoThrow(try WireCodec.decode(handMadeRecord(policy: 2, state: 7)))
        XCTAssertEqual(decodeError(handMadeRecord(policy: 3))?.message, "unknown preservation policy 3")
        XCTAssertEqual(decodeError(handMadeRecord(policy: 255))?.message, "unknown preservation policy 255")
        XCTAssertEqual(decodeError(handMadeRecord(state: 8))?.message, "unknown agent state 8")
    }

    func test_decode_unknownFlagBits_shouldReturnError() {
        var payload = WireCodec.encode(.agents(from: alice, replyTo: "", wantsReply: true, records: []))
        XCTAssertEqual(payload[payload.count - 2], 1)
        payload[payload.count - 2] = 2
        XCTAssertEqual(decodeError(payload)?.message, "unknown flags 2")
    }

    func test_decode_envOutOfOrderOrRepeated_shouldReturnError() {
        XCTAssertNoThrow(try WireCodec.decode(handMadeRecord(env: [("A", "1"), ("B", "2")])))
        XCTAssertEqual(decodeError(handMadeRecord(env: [("B", "2"), ("A", "1")]))?.message, "env keys not in ascending order")
        XCTAssertEqual(decodeError(handMadeRecord(env: [("A", "1"), ("A", "2")]))?.message, "env keys not in ascending order")
    }

    func test_decode_restartsBeyond32Bits_shouldReturnError() {
        XCTAssertEqual(decodeError(handMadeRecord(restarts: 1 << 32))?.message, "value 4294967296 exceeds 32 bits")
    }

    func test_decode_unknownMessageTypeAfterAgents_shouldReturnError() {
        XCTAssertEqual(decodeError([1, 16])?.message, "unknown message type 16")
    }

    func test_decode_trailingBytes_shouldReturnError() {
        for message in messages {
            XCTAssertNotNil(decodeError(WireCodec.encode(message) + [0]))
        }
    }

    func test_decode_everyTruncatedPrefix_shouldReturnError() {
        for message in smallMessages {
            let payload = WireCodec.encode(message)
            for length in 0..<payload.count {
                XCTAssertThrowsError(try WireCodec.decode(Array(payload.prefix(length))), "\(message) cut at \(length)")
            }
        }
        for message in largeMessages {
            let payload = WireCodec.encode(message)
            for length in samplePositions(payload.count, step: 101) {
                XCTAssertThrowsError(try WireCodec.decode(Array(payload.prefix(length))), "large message cut at \(length)")
            }
        }
    }

    // MARK: Bounds

    func test_decode_agentNameOverLimit_shouldReturnError() {
        let ok = String(repeating: "é", count: 32)
        let long = ok + "x"
        XCTAssertEqual(ok.utf8.count, WireCodec.maxAgentNameBytes)
        var protects = bareSpec
        protects.protects = ["a", long]
        let cases: [(Message, Message)] = [
            (record(AgentSpec(name: ok, command: "c")), record(AgentSpec(name: long, command: "c"))),
            (record(AgentSpec(name: "a", command: "c", protects: [ok])), record(protects)),
            (.checkpoint(from: alice, replyTo: "", agent: ok, generation: 1, seq: 1, data: []),
             .checkpoint(from: alice, replyTo: "", agent: long, generation: 1, seq: 1, data: [])),
            (.checkpointAck(from: alice, agent: ok, generation: 1, seq: 1),
             .checkpointAck(from: alice, agent: long, generation: 1, seq: 1)),
            (.agentMessage(from: ok, to: ok, payload: []), .agentMessage(from: long, to: "b", payload: [])),
            (.agentMessage(from: ok, to: ok, payload: []), .agentMessage(from: "a", to: long, payload: [])),
            (.relaunchRequest(from: alice, agent: ok, generation: 1, by: ""),
             .relaunchRequest(from: alice, agent: long, generation: 1, by: "")),
        ]
        for (good, bad) in cases {
            XCTAssertEqual(try WireCodec.decode(WireCodec.encode(good)), good)
            XCTAssertEqual(decodeError(WireCodec.encode(bad, checkingLimits: false))?.message, "length 65 exceeds limit 64", "\(bad)")
        }
    }

    func test_decode_commandArgsEnvOrDirectoryOverLimit_shouldReturnError() {
        let long = String(repeating: "a", count: WireCodec.maxAgentCommandBytes + 1)
        let cases = [
            AgentSpec(name: "a", command: long),
            AgentSpec(name: "a", command: "c", args: ["x", long]),
            AgentSpec(name: "a", command: "c", env: ["K": long]),
            AgentSpec(name: "a", command: "c", env: [long: "v"]),
            AgentSpec(name: "a", command: "c", workingDirectory: long),
        ]
        for spec in cases {
            XCTAssertEqual(decodeError(WireCodec.encode(record(spec), checkingLimits: false))?.message, "length 4097 exceeds limit 4096")
        }
    }

    func test_decode_tooManyArgsEnvOrProtects_shouldReturnError() throws {
        XCTAssertEqual(try WireCodec.decode(WireCodec.encode(record(manySpec))), record(manySpec))
        var args = manySpec
        args.args.append("one-more")
        var env = manySpec
        env.env["one-more"] = ""
        var protects = manySpec
        protects.protects.append("one-more")
        for spec in [args, env, protects] {
            XCTAssertEqual(decodeError(WireCodec.encode(record(spec), checkingLimits: false))?.message, "count 257 exceeds limit 256")
        }
    }

    func test_decode_recordStringsOverLimit_shouldReturnError() {
        let long = String(repeating: "a", count: WireCodec.maxStringBytes + 1)
        let cases: [Message] = [
            record(bareSpec, host: long),
            record(bareSpec, updatedBy: long),
            .agents(from: alice, replyTo: long, wantsReply: false, records: []),
            .checkpoint(from: alice, replyTo: long, agent: "a", generation: 1, seq: 1, data: []),
            .relaunchRequest(from: alice, agent: "a", generation: 1, by: long),
            .relaunchRequest(from: NodeID(name: long, uid: 1), agent: "a", generation: 1, by: ""),
        ]
        for message in cases {
            XCTAssertEqual(decodeError(WireCodec.encode(message, checkingLimits: false))?.message, "length 256 exceeds limit 255")
        }
        // A record clips its own reason, so a hostile peer's long one is written by hand.
        let longReason = agentsFrame { w in
            writeSpec(to: &w)
            w.varint(1); w.varint(0); w.string("h"); w.u64(1); w.u32(7); w.u8(1); w.varint(0); w.varint(0)
            w.string(long)
            w.string("")
        }
        XCTAssertEqual(decodeError(longReason)?.message, "length 256 exceeds limit 255")
    }

    func test_decode_checkpointOverLimit_shouldReturnError() {
        let over = Message.checkpoint(from: alice, replyTo: "", agent: "a", generation: 1, seq: 1,
                                      data: maxCheckpoint + [0])
        XCTAssertEqual(decodeError(WireCodec.encode(over, checkingLimits: false))?.message, "length 65537 exceeds limit 65536")
    }

    func test_decode_agentPayloadAtLimit_shouldSucceed_andOverLimit_shouldReturnError() throws {
        let payload = [UInt8](repeating: 0xA5, count: WireCodec.maxAgentPayloadBytes)
        let ok = Message.agentMessage(from: "a", to: "b", payload: payload)
        XCTAssertEqual(try WireCodec.decode(WireCodec.encode(ok)), ok)
        let over = Message.agentMessage(from: "a", to: "b", payload: payload + [0])
        XCTAssertEqual(decodeError(WireCodec.encode(over, checkingLimits: false))?.message, "length 1048577 exceeds limit 1048576")
    }

    func test_decode_recordsOverLimit_shouldReturnError() {
        let payload = agentsFrame(records: UInt64(WireCodec.maxAgentRecords) + 1) { w in
            w.bytes(Array(repeating: 0, count: 200_000))
        }
        XCTAssertEqual(decodeError(payload)?.message, "count 100001 exceeds limit 100000")
    }

    func test_decode_recordCountBeyondRemainingBytes_shouldReturnErrorBeforeAllocating() {
        let payload = agentsFrame(records: 50_000) { w in w.u8(0) }
        XCTAssertEqual(decodeError(payload)?.message, "count 50000 exceeds the 1 bytes left")
    }

    func test_decode_hugeClaimedLengths_shouldReturnError() {
        let checkpoint = frame(type: 7) { w in
            WireCodec.write(alice, to: &w)
            w.string("")
            w.string("a")
            w.varint(1)
            w.varint(1)
            w.varint(.max)
        }
        XCTAssertEqual(decodeError(checkpoint)?.message, "length 18446744073709551615 exceeds limit 65536")
        let message = frame(type: 9) { w in
            w.string("a")
            w.string("b")
            w.varint(1 << 20)
            w.u8(0)
        }
        XCTAssertEqual(decodeError(message)?.message, "length 1048576 exceeds the 1 bytes left")
    }

    // MARK: Fuzz

    func test_decode_mutatedAgentFrames_shouldNeverTrap_andAcceptOnlyCanonicalBytes() {
        let accepted = decodeMutations(of: smallMessages, rounds: 1_500, seed: 0xA6E7)
        XCTAssertGreaterThan(accepted, 100, "many mutations (in strings and numbers) still decode")
    }

    func test_decode_mutatedLargeFrames_shouldNeverTrap_andAcceptOnlyCanonicalBytes() {
        var random = SeededRandom(seed: 7)
        for message in largeMessages {
            let valid = WireCodec.encode(message)
            for _ in 0..<300 {
                var payload = valid
                // Half in the first bytes, where the header, lengths and counts live.
                let index = Bool.random(using: &random) ? Int.random(in: 0..<200, using: &random)
                                                        : Int.random(in: 0..<payload.count, using: &random)
                payload[index] = UInt8.random(in: 0...255, using: &random)
                if let decoded = try? WireCodec.decode(payload) {
                    XCTAssertEqual(WireCodec.encode(decoded), payload)
                }
            }
        }
    }

    func test_decode_randomAgentBodies_shouldNeverTrap_andAcceptOnlyCanonicalBytes() {
        var random = SeededRandom(seed: 0x4A6E)
        var decoded = 0
        for _ in 0..<20_000 {
            let count = Int.random(in: 2...64, using: &random)
            var payload = (0..<count).map { _ in
                UInt8.random(in: 0...(Bool.random(using: &random) ? 3 : 255), using: &random)
            }
            payload[0] = WireCodec.version
            payload[1] = UInt8.random(in: 6...10, using: &random)
            guard let message = try? WireCodec.decode(payload) else { continue }
            decoded += 1
            XCTAssertEqual(WireCodec.encode(message), payload)
        }
        XCTAssertGreaterThan(decoded, 10, "the fuzz should reach decodable payloads")
    }
}
