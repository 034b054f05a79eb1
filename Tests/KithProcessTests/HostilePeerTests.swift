import Foundation
import Glibc
import KithControl
import KithCore
import KithCrypto
import XCTest

/// A hostile peer that can reach a lab's gossip port and speaks the wire
/// format (KithCore's `WireCodec`, length-prefixed over TCP) but holds no
/// operator key: it forges an agent record that would run a shell command,
/// a revive at the top epoch after a real kill-switch, and a kill-switch.
/// Nothing it sends may spawn, lift or throw anything; every daemon keeps
/// running; and what reached a node is refused and counted.
final class HostilePeerTests: LabTestCase {
    private let mallory = NodeID(name: "mallory", uid: 0xBAD)

    /// One TCP connection to `node`'s gossip port carrying `messages`, each
    /// as a 4-byte big-endian length and the encoded payload (no cluster key).
    private func send(_ messages: [Message], to node: String) throws {
        let address = lab.node(node).listen
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw HarnessError("bad gossip address \(address)")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errno)") }
        defer { close(fd) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw HarnessError("connect to \(address): \(errno)") }
        var bytes: [UInt8] = []
        for message in messages {
            let payload = WireCodec.encode(message)
            bytes += withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init) + payload
        }
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw HarnessError("write to \(address): \(errno)") }
            sent += n
        }
        usleep(200_000)  // let the daemon read before the close
    }

    private func uid(of node: String) throws -> UInt64 {
        guard let text = lab.status(of: node)?["uid"]?.stringValue, let uid = UInt64(text, radix: 16) else {
            throw HarnessError("no uid from \(node)")
        }
        return uid
    }

    private func counter(_ name: String, on node: String) -> Int64 { lab.status(of: node)?[name]?.intValue ?? -1 }

    /// The record an attacker would like n2 to run, three ways: unsigned, with
    /// a made-up signature, and with a real operator signature over another spec.
    private func forgedRecords(marker: String) throws -> [AgentRecord] {
        let evil = AgentSpec(name: "evil", command: "/bin/sh", args: ["-c", "touch \(marker)"])
        let base = AgentRecord(spec: evil, generation: 1, host: "n2", hostUID: try uid(of: "n2"), state: .starting,
                               reason: "started by operator", updatedBy: "n1")
        let signer = try lab.operatorSigner()
        let harmless = signer.sign(["cmd": "agent_start", "spec": ["name": "evil", "command": "/bin/true"]], counter: 1)
        let realSignature = try XCTUnwrap(harmless["auth"]?["sig"]?.stringValue.flatMap(Hex.decode))
        let key = try XCTUnwrap(Hex.decode(signer.publicKeyHex))
        let claimed = Array(JSON.object(["cmd": "agent_start", "spec": ["name": "evil", "command": "/bin/sh",
                                                                       "args": ["-c", .string("touch \(marker)")]]])
            .serialized().utf8)
        var madeUp = base
        madeUp.authorization = OperatorProof(key: key, signature: [UInt8](repeating: 7, count: 64), signed: claimed)
        var otherSpec = base
        otherSpec.authorization = OperatorProof(key: key, signature: realSignature, signed: OperatorRequest.signedBytes(of: harmless))
        return [base, madeUp, otherSpec]
    }

    private func startVictims() throws {
        for (name, node) in [("victim", "n2"), ("bystander", "n3")] {
            let started = try lab.kithctl(on: "n1", ["agent", "start", name, "--on", node, "--wait", "--", "kith-agent"])
            XCTAssertEqual(started.status, 0, started.stderr)
            try lab.waitForAgent(name, seenBy: ["n1", "n2", "n3"], "\(name) runs on \(node)") { $0["state"] == "running" }
        }
    }

    private func assertEveryDaemonRuns() {
        for node in lab.nodes {
            XCTAssertEqual(kill(node.pid, 0), 0, "\(node.name) died")
            XCTAssertNotNil(lab.status(of: node.name), "\(node.name) does not answer")
        }
    }

    private func hostileTombstones() -> Message {
        .tombstones(from: mallory, tombstones: [
            Tombstone(agent: "victim", epoch: WireCodec.counterMax, active: false, reason: "lifted", issuedBy: "mallory"),
            Tombstone(agent: "bystander", epoch: WireCodec.counterMax, active: true, reason: "killed", issuedBy: "mallory",
                      proof: OperatorProof(key: [UInt8](repeating: 1, count: 32), signature: [UInt8](repeating: 2, count: 64),
                                           signed: Array(#"{"cmd":"kill_switch","agents":["bystander"],"epoch":1}"#.utf8))),
        ])
    }

    /// Without a cluster key (an --insecure lab on loopback) the frames reach
    /// the core, which refuses each one for want of an operator's proof.
    func testForgedRecordsAndTombstonesAreRefusedByEveryNodeInAnInsecureLab() throws {
        try lab.start(nodes: 3, labArguments: ["--insecure"])
        XCTAssertEqual(lab.status(of: "n2")?["insecure"], true)
        try startVictims()
        let marker = lab.directory + "/MARKER"

        let records = try forgedRecords(marker: marker)
        for node in ["n2", "n1"] {
            try send([.agents(from: mallory, replyTo: "", wantsReply: false, records: records)], to: node)
        }
        try lab.waitUntil("n2 refuses and counts the forged records") { counter("frames_refused", on: "n2") >= 3 }
        try lab.holds(for: 3, "nothing is spawned") {
            if FileManager.default.fileExists(atPath: marker) { return "the marker exists: the command ran" }
            if !lab.liveProcesses(of: "evil").isEmpty { return "an 'evil' process runs" }
            if let state = lab.agents(seenBy: "n2")?["evil"]?["state"]?.stringValue { return "n2 holds an evil record (\(state))" }
            return nil
        }
        let refusals = lab.events("forged_refused", on: ["n2"]).map(\.record)
        XCTAssertTrue(refusals.contains { $0["peer"] == "mallory" && $0["agent"] == "evil" }, "\(refusals)")

        // A real kill-switch, then a forged revive at the top epoch and a forged kill-switch.
        XCTAssertEqual(try lab.kithctl(on: "n1", ["kill-switch", "victim"]).status, 0)
        try lab.waitForAgent("victim", seenBy: ["n1", "n2", "n3"], "victim is killed everywhere") { $0["state"] == "killed" }
        let refusedBefore = lab.nodes.map { counter("frames_refused", on: $0.name) }
        for node in ["n1", "n2", "n3"] { try send([hostileTombstones()], to: node) }
        try lab.waitUntil("every node refuses both tombstones") {
            zip(lab.nodes, refusedBefore).allSatisfy { counter("frames_refused", on: $0.0.name) >= $0.1 + 2 }
        }
        try lab.holds(for: 3, "the switch holds and the bystander runs") {
            for node in ["n1", "n2", "n3"] {
                let agents = lab.agents(seenBy: node)
                if agents?["victim"]?["state"] != "killed" { return "\(node) lifted the switch" }
                if agents?["bystander"]?["state"] != "running" { return "\(node) killed the bystander" }
            }
            if !lab.liveProcesses(of: "victim").isEmpty { return "victim runs again" }
            return lab.liveProcesses(of: "bystander").isEmpty ? "no process of bystander" : nil
        }
        // The operator's own revive and kill-switch still work afterwards.
        let revived = try lab.kithctl(on: "n1", ["revive", "victim"])
        XCTAssertEqual(revived.status, 0, revived.stderr + revived.stdout)
        try lab.waitForAgent("victim", seenBy: ["n1", "n2", "n3"], "victim runs after the revive") { $0["state"] == "running" }
        let again = try lab.kithctl(on: "n1", ["kill-switch", "victim"])
        XCTAssertEqual(again.status, 0, again.stderr + again.stdout)
        try lab.waitForAgent("victim", seenBy: ["n1", "n2", "n3"], "victim is killed again") { $0["state"] == "killed" }
        assertEveryDaemonRuns()
    }

    /// tombstones.json keeps each tombstone's proof and is checked again at
    /// load: a kill-switch survives a restart, and one written into the file
    /// by hand (no operator signature) is dropped and counted.
    func testTombstonesOnDiskKeepTheirProofAndAForgedOneIsDroppedAtLoad() throws {
        try lab.start(nodes: 1)
        let started = try lab.kithctl(on: "n1", ["agent", "start", "victim", "--on", "n1", "--wait", "--", "kith-agent"])
        XCTAssertEqual(started.status, 0, started.stderr)
        XCTAssertEqual(try lab.kithctl(on: "n1", ["kill-switch", "victim"]).status, 0)
        try lab.waitForAgent("victim", seenBy: ["n1"], "victim is killed") { $0["state"] == "killed" }
        XCTAssertEqual(try lab.kithctl(["lab", "stop", "n1"]).status, 0)
        XCTAssertNotNil(lab.waitForExit("n1", timeout: 10))

        let path = lab.directory + "/n1/tombstones.json"
        let saved = try JSON.parse(bytes: try XCTUnwrap(FileManager.default.contents(atPath: path)))
        var entries = try XCTUnwrap(saved.arrayValue)
        XCTAssertNotEqual(entries.first?["proof"], .null, "the kill-switch is saved with its proof")
        entries.append(["agent": "other", "epoch": .int(Int64.max), "active": true, "reason": "forged", "issued_by": "mallory",
                        "proof": .null])
        try (JSON.array(entries).serialized() + "\n").write(toFile: path, atomically: true, encoding: .utf8)

        XCTAssertEqual(try lab.kithctl(["lab", "start", "n1"]).status, 0)
        try lab.waitUntil("n1 is back") { lab.status(of: "n1") != nil }
        XCTAssertEqual(counter("frames_refused", on: "n1"), 1, "the forged tombstone is refused at load")
        let victim = try lab.kithctl(on: "n1", ["agent", "start", "victim", "--on", "n1", "--", "kith-agent"])
        XCTAssertNotEqual(victim.status, 0, "the signed kill-switch survived the restart")
        XCTAssertTrue(victim.stderr.contains("kill-switch"), victim.stderr)
        let other = try lab.kithctl(on: "n1", ["agent", "start", "other", "--on", "n1", "--wait", "--", "kith-agent"])
        XCTAssertEqual(other.status, 0, "no forged tombstone holds 'other': \(other.stderr)")
        assertEveryDaemonRuns()
    }

    /// A lab has a cluster key by default: frames from a peer without it are
    /// dropped before they are decoded, and counted.
    func testAPeerWithoutTheClusterKeyIsDroppedByADefaultLab() throws {
        try lab.start(nodes: 3)
        XCTAssertEqual(lab.status(of: "n2")?["insecure"], false)
        XCTAssertNotEqual(lab.status(of: "n2")?["cluster_key"], .null, "a lab must have a cluster key")
        try startVictims()
        let marker = lab.directory + "/MARKER"
        XCTAssertEqual(try lab.kithctl(on: "n1", ["kill-switch", "victim"]).status, 0)
        try lab.waitForAgent("victim", seenBy: ["n1", "n2", "n3"], "victim is killed everywhere") { $0["state"] == "killed" }

        let before = counter("frames_unauthenticated", on: "n2")
        try send([.agents(from: mallory, replyTo: "", wantsReply: false, records: try forgedRecords(marker: marker))], to: "n2")
        try send([hostileTombstones()], to: "n2")
        try lab.waitUntil("n2 drops the unauthenticated frames") { counter("frames_unauthenticated", on: "n2") >= before + 2 }
        try lab.holds(for: 3, "nothing changes") {
            if FileManager.default.fileExists(atPath: marker) { return "the marker exists: the command ran" }
            for node in ["n1", "n2", "n3"] {
                let agents = lab.agents(seenBy: node)
                if agents?["evil"] != nil { return "\(node) holds an evil record" }
                if agents?["victim"]?["state"] != "killed" { return "\(node) lifted the switch" }
                if agents?["bystander"]?["state"] != "running" { return "\(node) killed the bystander" }
            }
            return nil
        }
        XCTAssertEqual(counter("frames_refused", on: "n2"), 0, "nothing unauthenticated reached the core")
        let revived = try lab.kithctl(on: "n1", ["revive", "victim"])
        XCTAssertEqual(revived.status, 0, revived.stderr + revived.stdout)
        try lab.waitForAgent("victim", seenBy: ["n1", "n2", "n3"], "victim runs after the revive") { $0["state"] == "running" }
        assertEveryDaemonRuns()
    }
}
