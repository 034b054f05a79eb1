import Foundation
import XCTest
@testable import KithCore

/// Hostile but well-formed input, run against the real core (issue 11, part 3).
///
/// The semantic fuzzer builds frames a peer could send — maximum integers,
/// maximum counts within the limits, unknown names, this node's own name —
/// passes each through `WireCodec` encode and decode as the transport would,
/// and feeds what decodes into a real `Membership` and `AgentRegistry`,
/// acting as their shell for spawns, exits and operator commands. After every
/// input both must hold their invariants, and every message they emit must
/// decode again. The byte-level fuzzer mutates such frames and throws random
/// bytes at the decoder, which must return an error or a canonical message.
///
/// Seeded and bounded by iterations and by time; the seed and the count are
/// printed. Replay with `KITH_FUZZ_SEED=<seed>`; `KITH_FUZZ_SECONDS` and
/// `KITH_FUZZ_ITERATIONS` change the bounds.
final class SemanticFuzzTests: XCTestCase {
    private static var environment: [String: String] { ProcessInfo.processInfo.environment }
    private static var seed: UInt64 {
        environment["KITH_FUZZ_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
    }
    private static var seconds: Double { environment["KITH_FUZZ_SECONDS"].flatMap { Double($0) } ?? 8 }
    private static var iterations: Int { environment["KITH_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 20_000 }

    func testExtremeButWellFormedFramesNeverTrapTheCoreAndKeepItsInvariants() {
        let seed = Self.seed
        // Printed first: a debug-build assertion in the core stops the process before any report.
        print("semantic fuzz: seed \(seed); replay with KITH_FUZZ_SEED=\(seed)")
        var fuzz = FuzzCore(seed: seed)
        let deadline = Date().addingTimeInterval(Self.seconds)
        var count = 0
        var decoded = 0
        while count < Self.iterations && Date() < deadline {
            count += 1
            // A fresh node every few hundred inputs: records at the top generation or in final
            // states would otherwise settle the registry and starve later inputs of paths.
            if count % FuzzCore.lifetime == 0 { fuzz = FuzzCore(continuing: fuzz.gen, seed: seed &+ UInt64(count)) }
            let message = fuzz.gen.message()
            let payload = WireCodec.encode(message, checkingLimits: false)
            guard let received = try? WireCodec.decode(payload) else { continue }
            decoded += 1
            if let failure = fuzz.feed(received) {
                XCTFail("semantic fuzz seed \(seed), input \(count): \(failure)\n  message: \(String(describing: message).prefix(600))"
                        + "\n  replay: KITH_FUZZ_SEED=\(seed) swift test --filter SemanticFuzzTests")
                break
            }
            if let failure = fuzz.operate() {
                XCTFail("semantic fuzz seed \(seed), input \(count), local step: \(failure)"
                        + "\n  replay: KITH_FUZZ_SEED=\(seed) swift test --filter SemanticFuzzTests")
                break
            }
        }
        print("semantic fuzz: seed \(seed), \(count) frames (\(decoded) decoded and fed to the core), "
              + "\(fuzz.registry.records.count) records, \(fuzz.membership.members.count) members")
        XCTAssertGreaterThan(decoded, 0, "no frame decoded: the generator is broken")
    }

    func testMutatedAndRandomBytesNeverTrapTheDecoder() {
        let seed = Self.seed
        print("byte fuzz: seed \(seed); replay with KITH_FUZZ_SEED=\(seed)")
        var gen = Extremes(seed: seed)
        let deadline = Date().addingTimeInterval(Self.seconds / 2)
        var count = 0
        var accepted = 0
        while count < Self.iterations && Date() < deadline {
            count += 1
            var bytes: [UInt8]
            if gen.chance(0.2) {
                bytes = (0..<gen.int(below: 64)).map { _ in UInt8(truncatingIfNeeded: gen.rng.next()) }
                if gen.chance(0.5) && bytes.count > 1 { bytes[0] = WireCodec.version; bytes[1] = UInt8(1 + gen.int(below: 11)) }
            } else {
                bytes = WireCodec.encode(gen.message(), checkingLimits: false)
                for _ in 0..<(1 + gen.int(below: 4)) { gen.mutate(&bytes) }
            }
            do {
                let message = try WireCodec.decode(bytes)
                accepted += 1
                // What decodes is canonical: it re-encodes to exactly the same bytes, within every limit.
                guard WireCodec.encode(message, checkingLimits: false) == bytes else {
                    XCTFail("byte fuzz seed \(seed), input \(count): decoded bytes do not re-encode to themselves")
                    break
                }
            } catch {
                XCTAssertFalse(error.message.isEmpty)
            }
        }
        print("byte fuzz: seed \(seed), \(count) frames, \(accepted) accepted")
    }
}

/// A `Membership` and an `AgentRegistry` on node n1, and a minimal shell
/// around them: what the daemon would do with their directives, without IO.
struct FuzzCore {
    static let me = NodeID(name: "n1", uid: 1)
    /// Inputs one node takes before the fuzzer starts over with a fresh one.
    static let lifetime = 150
    var gen: Extremes
    var membership: Membership
    var registry: AgentRegistry
    var now = Instant(nanoseconds: 1_000_000_000)
    var pids: Int32 = 100

    init(seed: UInt64) { self.init(continuing: Extremes(seed: seed), seed: seed) }

    init(continuing gen: Extremes, seed: UInt64) {
        self.gen = gen
        let meta = NodeMeta(endpoint: "n1:7946", control: "n1:7947")
        membership = Membership(me: FuzzCore.me, meta: meta, seeds: ["n2:7946"], randomSeed: seed, now: now)
        registry = AgentRegistry(me: FuzzCore.me, authorizer: TagAuthorizer(), randomSeed: seed, now: now)
        let peers = ["n2", "n3", "n4"].map {
            MemberState(id: NodeID(name: $0, uid: 1), meta: NodeMeta(endpoint: "\($0):7946").credentialed(as: $0), status: .alive,
                        incarnation: 0)
        }
        _ = membership.receive(.pushPull(from: peers[0].id, replyTo: "n2:7946", isReply: true, isJoin: false, states: peers),
                               now: now)
        _ = registry.updateView(membership.members, now: now)
    }

    /// One frame from the network into both layers, as the node routes it.
    mutating func feed(_ message: Message) -> String? {
        advance()
        var emitted = membership.receive(message, now: now).compactMap(\.message)
        let agents = registry.updateView(membership.members, now: now) + registry.receive(message, now: now)
        emitted += act(on: agents)
        return check(emitted)
    }

    /// A local input: timers, the supervisor's reports, an operator's command.
    mutating func operate() -> String? {
        advance()
        var agents: [AgentDirective] = []
        var emitted = membership.tick(now: now).compactMap(\.message)
        let names = Array(registry.records.keys.sorted().prefix(8))
        let name = names.isEmpty ? gen.agentName() : names[gen.int(below: names.count)]
        switch gen.int(below: 10) {
        case 0, 1:
            agents = registry.tick(now: now)
        case 2:
            let generation = registry.records[name]?.generation ?? gen.u64()
            agents = registry.exited(name, generation: generation, status: gen.text(), now: now)
        case 3:
            agents = (try? registry.killSwitch(name, epoch: gen.u64(), reason: gen.text(), issuedBy: gen.text(), now: now)) ?? []
        case 4:
            agents = (try? registry.revive(name, epoch: gen.u64(), issuedBy: gen.text(), now: now)) ?? []
        case 5:
            agents = (try? registry.checkpoint(name, data: gen.data(), now: now)) ?? []
        case 6:
            agents = registry.requestRelaunch(of: name, by: gen.text(), now: now).directives
        case 7:
            agents = (try? registry.start(gen.spec(name: name), on: gen.chance(0.5) ? nil : "n1", now: now)) ?? []
        case 8:
            agents = (try? registry.stop(name, reason: gen.text(), now: now)) ?? []
        default:
            emitted += membership.peerRefused("\(gen.nodeName()):7946", now: now).compactMap(\.message)
            agents = registry.updateView(membership.members, now: now)
        }
        emitted += act(on: agents)
        return check(emitted)
    }

    /// Spawns get a pid and, mostly, a hello; the rest is what the shell would send.
    mutating func act(on directives: [AgentDirective]) -> [Message] {
        var messages: [Message] = []
        for directive in directives {
            switch directive {
            case let .send(message, _):
                messages.append(message)
            case let .spawn(record, _):
                pids += 1
                registry.spawned(record.name, generation: record.generation, pid: pids)
                if gen.chance(0.7) {
                    for more in registry.connected(record.name, generation: record.generation, now: now) {
                        if case let .send(message, _) = more { messages.append(message) }
                    }
                }
            default:
                break
            }
        }
        return messages
    }

    mutating func advance() {
        let step: UInt64 = gen.chance(0.05) ? 3_600_000_000_000 : UInt64(gen.int(below: 3_000_000_000))
        now = Instant(nanoseconds: now.nanoseconds + step)
    }

    /// Both invariants hold and every message the core emitted decodes again.
    func check(_ emitted: [Message]) -> String? {
        if let broken = membership.checkInvariants() { return "membership invariant: \(broken)" }
        if let broken = registry.checkInvariants() { return "registry invariant: \(broken)" }
        for message in emitted {
            do { _ = try WireCodec.decode(WireCodec.encode(message, checkingLimits: false)) } catch {
                return "the core emitted a message the decoder rejects (\(error)): \(String(describing: message).prefix(300))"
            }
        }
        return nil
    }
}

extension MembershipDirective {
    var message: Message? {
        if case let .send(message, _) = self { return message }
        return nil
    }
}

/// Values at the edges of what the wire allows, and names that matter.
struct Extremes {
    var rng: SeededRandom

    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    mutating func int(below n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }
    mutating func chance(_ p: Double) -> Bool { Double(rng.next() % 1_000_000) < p * 1_000_000 }
    mutating func pick<T>(_ values: [T]) -> T { values[int(below: values.count)] }

    /// Around zero and around the core's top (`counterMax`); one in ten
    /// beyond it (2^63, the very top), which the decoder must refuse.
    mutating func u64() -> UInt64 {
        chance(0.1) ? pick([WireCodec.counterMax + 1, .max - 1, .max])
                    : pick([0, 1, 2, WireCodec.counterMax - 1, WireCodec.counterMax, rng.next() >> 1])
    }

    mutating func u32() -> UInt32 { pick([0, 1, .max - 1, .max, UInt32(truncatingIfNeeded: rng.next())]) }

    /// This node's name, its peers', strangers', the empty name and the longest.
    mutating func nodeName() -> String {
        pick(["n1", "n1", "n2", "n3", "n4", "ghost-\(int(below: 1000))", "", String(repeating: "é", count: 127) + "x"])
    }

    mutating func nodeID() -> NodeID { NodeID(name: nodeName(), uid: pick([0, 1, 1, 2, .max, rng.next()])) }

    mutating func agentName() -> String {
        chance(0.1) ? pick(["", "bad name", String(repeating: "z", count: WireCodec.maxAgentNameBytes)])
                    : pick(["a", "b", "c", "n1-a1", "ghost"])
    }

    mutating func text() -> String {
        pick(["", "exited with status 1", "ü" + String(repeating: "é", count: 200), String(repeating: "x", count: 300),
              String(repeating: "🔪", count: 70)])
    }

    mutating func wireText() -> String { String(text().utf8.prefix(WireCodec.maxStringBytes)) ?? "" }

    mutating func data() -> [UInt8] {
        chance(0.05) ? pick([[UInt8](repeating: 7, count: WireCodec.maxCheckpointBytes),
                             [UInt8](repeating: 1, count: WireCodec.maxCheckpointBytes + 1)])
                     : pick([[], [1, 2, 3]])
    }

    mutating func meta(_ name: String) -> NodeMeta {
        var tags: [String: String] = [:]
        for k in 0..<(chance(0.05) ? WireCodec.maxTags : int(below: 2)) { tags["t\(k)"] = "v" }
        return NodeMeta(endpoint: "\(name):7946", control: chance(0.5) ? "" : "\(name):7947", capacity: u32(), tags: tags)
    }

    mutating func gossip() -> Gossip {
        let id = nodeID()
        switch int(below: 4) {
        case 0: return .alive(id, incarnation: u32(), meta: meta(id.name))
        case 1: return .suspect(id, incarnation: u32(), by: nodeName())
        case 2: return .dead(id, incarnation: u32(), by: nodeName())
        default: return .left(id, incarnation: u32())
        }
    }

    /// Up to 300 states, most of them new names: more than one frame may add.
    mutating func states() -> [MemberState] {
        let count = chance(0.1) ? 300 : pick([0, 1, 5])
        return (0..<count).map { i in
            let id = i < 5 ? nodeID() : NodeID(name: "fake-\(i)-\(rng.next() % 1000)", uid: rng.next())
            return MemberState(id: id, meta: meta(id.name), status: pick(MemberStatus.allCases), incarnation: u32())
        }
    }

    mutating func spec(name: String) -> AgentSpec {
        var limits = RestartLimits()
        limits.maxRestarts = chance(0.1) ? Int.max : pick([0, 1, 3, 1000])
        limits.window = pick([.milliseconds(1), .seconds(30), .milliseconds(Int64.max)])
        limits.backoffBase = pick([.zero, .milliseconds(5), .milliseconds(Int64.max)])
        limits.backoffMax = pick([.zero, .seconds(2), .milliseconds(Int64.max)])
        limits.maxHandoffs = pick([0, 3, Int.max])
        let protects = chance(0.05) ? (0..<WireCodec.maxAgentProtects).map { "p\($0)" } : pick([[], ["a"], ["b", "c"]])
        return AgentSpec(name: name, command: "/bin/agent", args: chance(0.1) ? (0..<WireCodec.maxAgentArgs).map { "\($0)" } : [],
                         protects: protects.filter { $0 != name }, policy: pick(PreservationPolicy.allCases), limits: limits)
    }

    mutating func record() -> AgentRecord {
        // Often hosted here, so this node spawns, restarts and writes it at the edge values.
        AgentRecord(spec: spec(name: agentName()), generation: u64(), version: u64(), host: chance(0.5) ? "n1" : nodeName(),
                    hostUID: pick([1, 1, 1, 2, .max]), pid: pick([0, -1, Int32.max, 4242]), state: pick(AgentState.allCases),
                    restarts: u32(), handoffs: u32(), reason: wireText(), updatedBy: nodeName())
    }

    mutating func message() -> Message {
        let from = nodeID()
        let replyTo = "\(nodeName()):7946"
        switch int(below: 13) {
        case 0: return .ping(seq: u32(), from: from, replyTo: replyTo, target: nodeID(), gossip: (0..<(chance(0.05) ? WireCodec.maxGossip : pick([0, 1, 4]))).map { _ in gossip() })
        case 1: return .pingReq(seq: u32(), from: from, replyTo: replyTo, target: nodeID(), targetEndpoint: replyTo,
                                gossip: (0..<pick([0, 3])).map { _ in gossip() })
        case 2: return .ack(seq: u32(), from: from, gossip: (0..<pick([0, 1, 8])).map { _ in gossip() })
        case 3: return .nack(seq: u32(), from: from)
        case 4: return .pushPull(from: from, replyTo: replyTo, isReply: chance(0.5), isJoin: chance(0.2), states: states())
        case 5: return .agents(from: from, replyTo: replyTo, wantsReply: chance(0.5), records: (0..<pick([0, 1, 1, 3])).map { _ in record() })
        case 6: return .checkpoint(from: from, replyTo: replyTo, agent: agentName(), generation: u64(), seq: u64(), data: data())
        case 7: return .checkpointAck(from: from, agent: agentName(), generation: u64(), seq: u64())
        case 8: return .agentMessage(from: agentName(), to: agentName(), payload: chance(0.05) ? [UInt8](repeating: 0, count: 1 << 16) : [1])
        case 9: return .relaunchRequest(from: from, agent: agentName(), generation: u64(), by: wireText())
        case 10: return .checkpointFetch(from: from, agent: agentName())
        case 11: return .checkpointOffer(from: from, agent: agentName(), checkpoint: chance(0.3) ? nil
                                         : Checkpoint(generation: u64(), seq: max(1, u64()), data: data(), host: nodeName()))
        default:
            return .tombstones(from: from, tombstones: (0..<pick([0, 1, 4])).map { _ in
                Tombstone(agent: agentName(), epoch: u64(), active: chance(0.5), reason: text(), issuedBy: text())
            })
        }
    }

    /// Flips, sets to an edge value, inserts or deletes one byte, or truncates.
    mutating func mutate(_ bytes: inout [UInt8]) {
        guard !bytes.isEmpty else { bytes = [WireCodec.version]; return }
        let at = int(below: bytes.count)
        switch int(below: 5) {
        case 0: bytes[at] ^= UInt8(1) << UInt8(int(below: 8))
        case 1: bytes[at] = pick([0, 0x7F, 0x80, 0xFF])
        case 2: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
        case 3: bytes.remove(at: at)
        default: bytes.removeLast(bytes.count - at)
        }
    }
}
