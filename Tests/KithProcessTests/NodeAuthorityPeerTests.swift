import Foundation
import Glibc
import KithControl
import KithCore
import KithCrypto
@testable import KithNode
import XCTest

/// A hostile peer that speaks for nodes it is not: it says n3 left, invents
/// members, announces its own key under n3's name, and plants a checkpoint of
/// an agent hosted on n2. Without a cluster key (an insecure lab) and with
/// the lab's key (an insider, e.g. an agent that read the keyring), every
/// node refuses each forged claim and counts it; nobody is evicted or
/// invented, and a real graceful leave still works. Nor can it speak for
/// another node's agent (`testAnInsiderCannotForgeAnotherHostsAgentRecords`).
final class NodeAuthorityPeerTests: LabTestCase {
    private let mallory = NodeID(name: "mallory", uid: 0xBAD)

    /// One TCP connection to `node`'s gossip port carrying `messages`, each
    /// length-prefixed; with `key`, in a session sealed with it (an insider), else unauthenticated.
    private func send(_ messages: [Message], to node: String, key: ClusterKey?) throws {
        let address = lab.node(node).listen
        if let key {
            let connection = try SessionPeer.Connection(to: address)
            for message in messages { try connection.send(WireCodec.encode(message), key: key) }
            return
        }
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw HarnessError("bad gossip address \(address)")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errno)") }
        defer { close(fd) }
        var sin = SessionPeer.loopback(port)
        let connected = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw HarnessError("connect to \(address): \(errno)") }
        var bytes: [UInt8] = []
        for message in messages {
            let frame = WireCodec.encode(message)
            bytes += withUnsafeBytes(of: UInt32(frame.count).bigEndian, Array.init) + frame
        }
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw HarnessError("write to \(address): \(errno)") }
            sent += n
        }
    }

    private func counter(_ name: String, on node: String) -> Int64 { lab.status(of: node)?[name]?.intValue ?? -1 }

    private func uid(of node: String) throws -> UInt64 {
        guard let text = lab.status(of: node)?["uid"]?.stringValue, let uid = UInt64(text, radix: 16) else {
            throw HarnessError("no uid from \(node)")
        }
        return uid
    }

    /// The forged frames: 1 refusal for the ack, 5 for the push-pull, 1 for the checkpoint.
    private func forgeries(generation: UInt64) throws -> [Message] {
        let n3 = NodeID(name: "n3", uid: try uid(of: "n3"))
        let junk = [UInt8](repeating: 7, count: 64)
        let malloryKey = SigningKey.generate()
        let fakeMeta = { (port: Int) in NodeMeta(endpoint: "127.0.0.1:\(port)", key: malloryKey.publicKey) }
        var hijack = fakeMeta(1)
        hijack.certificate = [UInt8](repeating: 1, count: 96)
        return [
            .ack(seq: 0, from: mallory, gossip: [.left(n3, incarnation: 99, signature: junk)]),
            .pushPull(from: mallory, replyTo: "127.0.0.1:1", isReply: true, isJoin: false, states: [
                MemberState(id: n3, meta: fakeMeta(1), status: .left, incarnation: 99,
                            signature: malloryKey.sign(NodeStatement.left(n3))),
                MemberState(id: n3, meta: hijack, status: .alive, incarnation: 100),
            ] + (1...3).map { MemberState(id: NodeID(name: "fake\($0)", uid: 1), meta: fakeMeta($0 + 1), status: .alive,
                                          incarnation: 0) }),
            .checkpoint(from: mallory, replyTo: "", agent: "victim", generation: generation, seq: 999, data: Array("evil".utf8),
                        host: "n2", signature: malloryKey.sign(Array("evil".utf8))),
        ]
    }

    private func attack(with key: ClusterKey?) throws {
        XCTAssertEqual(lab.status(of: "n1")?["node_certified"], true, "a lab certifies its nodes")
        let started = try lab.kithctl(on: "n1", ["agent", "start", "victim", "--on", "n2", "--wait", "--", "kith-agent"])
        XCTAssertEqual(started.status, 0, started.stderr)
        try lab.waitForAgent("victim", seenBy: ["n1", "n2", "n3"], "victim runs on n2") { $0["state"] == "running" }
        let generation = UInt64(lab.agents(seenBy: "n1")?["victim"]?["generation"]?.intValue ?? 1)
        let before = ["n1", "n2"].map { counter("frames_refused", on: $0) }
        for node in ["n1", "n2"] { try send(try forgeries(generation: generation), to: node, key: key) }
        try lab.waitUntil("n1 and n2 refuse and count every forged claim") {
            zip(["n1", "n2"], before).allSatisfy { counter("frames_refused", on: $0.0) >= $0.1 + 7 }
        }
        try lab.holds(for: 3, "nobody is evicted or invented") {
            for observer in ["n1", "n2", "n3"] {
                guard let states = lab.states(seenBy: observer) else { return "\(observer) does not answer" }
                if states["n3"] != "alive" { return "\(observer) holds n3 \(states["n3"] ?? "gone")" }
                if let fake = states.keys.first(where: { $0.hasPrefix("fake") || $0 == "mallory" }) { return "\(observer) learned \(fake)" }
            }
            return lab.agents(seenBy: "n1")?["victim"]?["state"] == "running" ? nil : "victim no longer runs"
        }
        let refusals = lab.events("forged_refused", on: ["n1"]).map(\.record)
        for what in ["left", "alive", "checkpoint"] {
            XCTAssertTrue(refusals.contains { $0["what"]?.stringValue == what && $0["peer"] == "mallory" }, "\(what): \(refusals)")
        }
        for node in lab.nodes {
            XCTAssertEqual(kill(node.pid, 0), 0, "\(node.name) died")
        }

        // n3's own goodbye is accepted everywhere.
        XCTAssertEqual(try lab.kithctl(["lab", "stop", "n3"]).status, 0)
        try lab.waitUntil("n1 and n2 see n3 leave") { lab.allSee(["n3"], as: "left", observers: ["n1", "n2"]) }
    }

    /// Records about n2's agent that n2 never wrote, each carrying a valid
    /// operator proof of its spec (proofs travel in gossip: any insider holds
    /// them), so only the writer's signature stands in the way: n2 claims it
    /// failed (a made-up signature), n3 claims it moved there at the next
    /// generation (likewise), n2 claims version 2^62 (signed with mallory's
    /// key), and a lost verdict at version 2^62 while n2 is alive.
    private func forgedRecords(victim held: JSON) throws -> [AgentRecord] {
        let signer = try lab.operatorSigner()
        let request = signer.sign(["cmd": "agent_start", "spec": ["name": "victim", "command": "kith-agent"]], counter: 1)
        let spec = try AgentSpec(config: try XCTUnwrap(request["spec"]))
        let proof = try XCTUnwrap(OperatorProof(request: request))
        let generation = UInt64(try XCTUnwrap(held["generation"]?.intValue))
        let n2 = try uid(of: "n2")
        let junk = [UInt8](repeating: 7, count: 64)
        let top: UInt64 = 1 << 62
        func record(generation: UInt64 = generation, version: UInt64, host: String = "n2", state: AgentState,
                    by writer: String, signature: [UInt8]) throws -> AgentRecord {
            AgentRecord(spec: spec, generation: generation, version: version, host: host,
                        hostUID: host == "n2" ? n2 : try uid(of: host), state: state, reason: "forged", updatedBy: writer,
                        authorization: proof, signature: signature)
        }
        var frozen = try record(version: top, state: .running, by: "n2", signature: [])
        frozen.signature = SigningKey.generate().sign(NodeStatement.agentRecord(frozen))
        return [
            try record(version: 1000, state: .failed, by: "n2", signature: junk),
            try record(generation: generation + 1, version: 0, host: "n3", state: .running, by: "n3", signature: junk),
            frozen,
            try record(version: top, state: .lost, by: AgentRecord.lossWriter, signature: []),
        ]
    }

    /// An insider with the cluster key forges n2's agent's records: no node
    /// changes anything, each refuses and counts every record, every daemon
    /// runs on, and the operator's own stop (taken by n1, about n2's agent)
    /// is still adopted everywhere.
    func testAnInsiderCannotForgeAnotherHostsAgentRecords() throws {
        try lab.start(nodes: 3)
        let key = try SessionPeer(keyFile: lab.directory + "/cluster.keys").key
        let started = try lab.kithctl(on: "n1", ["agent", "start", "victim", "--on", "n2", "--wait", "--", "kith-agent"])
        XCTAssertEqual(started.status, 0, started.stderr)
        try lab.waitForAgent("victim", seenBy: ["n1", "n2", "n3"], "victim runs on n2") { $0["state"] == "running" }
        let held = try XCTUnwrap(lab.agents(seenBy: "n1")?["victim"])
        let records = try forgedRecords(victim: held)
        let before = lab.nodes.map { counter("frames_refused", on: $0.name) }
        for node in lab.nodes {
            try send([.agents(from: mallory, replyTo: "", wantsReply: false, records: records)], to: node.name, key: key)
        }
        try lab.waitUntil("every node refuses and counts the four forged records") {
            zip(lab.nodes, before).allSatisfy { counter("frames_refused", on: $0.0.name) >= $0.1 + 4 }
        }
        try lab.holds(for: 3, "victim still runs on n2 at its generation, as every node sees it") {
            for observer in ["n1", "n2", "n3"] {
                guard let agent = lab.agents(seenBy: observer)?["victim"] else { return "\(observer) does not answer" }
                for field in ["state", "node", "generation", "pid"] where agent[field] != held[field] {
                    return "\(observer) holds \(field) \(agent[field]?.serialized() ?? "none"), was \(held[field]?.serialized() ?? "none")"
                }
            }
            return lab.liveProcesses(of: "victim").count == 1 ? nil : "not exactly one victim process"
        }
        let refusals = lab.events("forged_refused", on: ["n1"]).map(\.record)
        XCTAssertGreaterThanOrEqual(refusals.filter { $0["what"] == "agent_record" && $0["peer"] == "mallory" }.count, 4,
                                    "\(refusals)")
        for node in lab.nodes { XCTAssertEqual(kill(node.pid, 0), 0, "\(node.name) died") }
        let status = try lab.kithctl(["lab", "status", "--json"])
        let http = try XCTUnwrap(try JSON.parse(status.stdout).arrayValue?.first { $0["name"] == "n1" }?["http"]?.stringValue)
        let forged = try HTTPClient.get(http, "/metrics").body.split(separator: "\n")
            .first { $0.hasPrefix("kith_frames_rejected_total{reason=\"forged\"} ") }
        XCTAssertGreaterThanOrEqual(forged.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } } ?? 0, 4,
                                    "refusals are in the metric")

        // The forged version 2^62 froze nothing: the operator's stop, taken by n1, is adopted everywhere.
        let stopped = try lab.kithctl(on: "n1", ["agent", "stop", "victim"])
        XCTAssertEqual(stopped.status, 0, stopped.stderr + stopped.stdout)
        try lab.waitForAgent("victim", seenBy: ["n1", "n2", "n3"], "victim is stopped everywhere") { $0["state"] == "stopped" }
        try lab.waitUntil("n2 stops the process") { lab.liveProcesses(of: "victim").isEmpty }
    }

    func testForgedLeftFakeMembersAndACheckpointFromANonHostAreRefusedInAnInsecureLab() throws {
        try lab.start(nodes: 3, labArguments: ["--insecure"])
        try attack(with: nil)
    }

    func testAnInsiderWithTheClusterKeyStillCannotSpeakForAnotherNode() throws {
        try lab.start(nodes: 3)
        try attack(with: try SessionPeer(keyFile: lab.directory + "/cluster.keys").key)
    }
}
