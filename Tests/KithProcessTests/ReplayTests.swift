import Foundation
import Glibc
import KithCore
import KithCrypto
import XCTest

/// Cluster-key frames cannot be replayed: a peer holding the key (standing in
/// for anyone who captured its traffic) sends a ping a daemon answers, then
/// replays the frame on its own connection, on a new one, and behind a
/// replayed hello. None is answered; each is dropped, counted and recorded;
/// the peer's fresh frames still work. Frames of an unknown version or type
/// are skipped without closing the connection, and refusal floods leave a
/// bounded number of records.
final class ReplayTests: LabTestCase {
    private let ghost = NodeID(name: "ghost", uid: 0x6057)

    private func uid(of node: String) throws -> UInt64 {
        guard let text = lab.status(of: node)?["uid"]?.stringValue, let uid = UInt64(text, radix: 16) else {
            throw HarnessError("no uid from \(node)")
        }
        return uid
    }

    private func counter(_ name: String, on node: String = "n1") -> Int64 { lab.status(of: node)?[name]?.intValue ?? -1 }

    private func ping(_ seq: UInt32, to target: NodeID, replyTo: String) -> [UInt8] {
        WireCodec.encode(.ping(seq: seq, from: ghost, replyTo: replyTo, target: target, gossip: []))
    }

    func testCapturedFramesReplayedOnAnyConnectionAreNeverObeyedAndAreCounted() throws {
        try lab.start(nodes: 1)
        let peer = try SessionPeer(keyFile: lab.directory + "/cluster.keys")
        let n1 = NodeID(name: "n1", uid: try uid(of: "n1"))
        let gossip = lab.node("n1").listen

        let first = try SessionPeer.Connection(to: gossip)
        let captured = try first.send(ping(1, to: n1, replyTo: peer.listenEndpoint), key: peer.key)
        XCTAssertTrue(peer.pump(timeout: 10) { _ in peer.acks(1) == 1 }, "the genuine ping is answered")

        try first.writeFrame(captured)
        XCTAssertTrue(first.isClosedByPeer(withinMs: 3000), "a replay on its own connection closes it")
        let second = try SessionPeer.Connection(to: gossip)
        try second.writeFrame(captured)
        XCTAssertTrue(second.isClosedByPeer(withinMs: 3000), "a replay on a new connection closes it")
        let third = try SessionPeer.Connection(to: gossip, hello: first.session.hello)
        try third.writeFrame(captured)
        XCTAssertTrue(third.isClosedByPeer(withinMs: 3000), "a replay behind the replayed hello closes it")

        try lab.waitUntil("n1 counts three replays") { counter("frames_replayed") == 3 }
        XCTAssertFalse(peer.pump(timeout: 2) { _ in peer.acks(1) > 1 }, "a replayed ping was answered")
        XCTAssertEqual(counter("frames_unauthenticated"), 0)
        let records = lab.events("frame_replayed", on: ["n1"]).map(\.record)
        XCTAssertEqual(records.count, 3, "\(records)")

        // The key holder keeps working: a fresh frame on a fresh connection is answered.
        let fourth = try SessionPeer.Connection(to: gossip)
        try fourth.send(ping(2, to: n1, replyTo: peer.listenEndpoint), key: peer.key)
        XCTAssertTrue(peer.pump(timeout: 10) { _ in peer.acks(2) == 1 }, "a fresh ping after the replays is answered")
        XCTAssertNotNil(lab.status(of: "n1"))
    }

    /// A newer peer's frame types (14 and up) and version (2) are skipped and
    /// counted; the connection stays up and its next frame is obeyed.
    func testFramesOfAnUnknownTypeOrVersionAreSkippedAndTheConnectionKeepsWorking() throws {
        try lab.start(nodes: 1)
        let peer = try SessionPeer(keyFile: lab.directory + "/cluster.keys")
        let n1 = NodeID(name: "n1", uid: try uid(of: "n1"))
        let connection = try SessionPeer.Connection(to: lab.node("n1").listen)
        try connection.send([WireCodec.version, 16, 1, 2, 3], key: peer.key)
        try connection.send([WireCodec.version, 255], key: peer.key)
        try connection.send([WireCodec.version + 1] + Array(ping(3, to: n1, replyTo: peer.listenEndpoint).dropFirst()), key: peer.key)
        try connection.send(ping(4, to: n1, replyTo: peer.listenEndpoint), key: peer.key)
        XCTAssertTrue(peer.pump(timeout: 10) { _ in peer.acks(4) == 1 }, "the frame after the unknown ones is obeyed")
        XCTAssertEqual(peer.acks(3), 0, "a version-2 ping is not read as version 1")
        XCTAssertFalse(connection.isClosedByPeer(withinMs: 300), "the connection is kept")
        XCTAssertEqual(counter("frames_unknown"), 3)
        XCTAssertEqual(counter("frames_rejected"), 0)
        XCTAssertEqual(lab.events("frame_unknown", on: ["n1"]).count, 3)

        // A malformed frame of a known type still closes the connection.
        try connection.send([WireCodec.version, 1, 0xFF], key: peer.key)
        XCTAssertTrue(connection.isClosedByPeer(withinMs: 3000))
        try lab.waitUntil("n1 counts the malformed frame") { counter("frames_rejected") == 1 }
    }

    /// A flood of refusals, from the gossip port and the control port, is
    /// counted whole but recorded at most 20 times per kind per 10 s, then
    /// summarized with the count held back.
    func testRefusalFloodsAreCountedWholeAndRecordedAFewTimes() throws {
        try lab.start(nodes: 1, labArguments: ["--insecure"])
        let uid = try uid(of: "n1")
        let records = (0..<100).map { i in
            AgentRecord(spec: AgentSpec(name: "evil\(i)", command: "/bin/true"), generation: 1, host: "n1", hostUID: uid,
                        state: .starting, reason: "forged", updatedBy: "n1")
        }
        let payload = WireCodec.encode(.agents(from: ghost, replyTo: "", wantsReply: false, records: records))
        let address = SessionPeer.loopback(UInt16(lab.node("n1").listen.split(separator: ":").last!)!)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var sin = address
        let connected = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(connected, 0)
        let bytes = withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init) + payload
        XCTAssertEqual(bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }, bytes.count)

        let client = lab.client("n1")
        for i in 0..<30 { _ = try? client.request(["cmd": "heal", "note": .int(Int64(i))]) }

        try lab.waitUntil("n1 counts every forged record") { counter("frames_refused") == 100 }
        try lab.waitUntil("both floods are summarized", timeout: 20) {
            lab.events("records_suppressed", on: ["n1"]).count >= 2
        }
        XCTAssertEqual(lab.events("forged_refused", on: ["n1"]).count, 20)
        XCTAssertEqual(lab.events("command_refused", on: ["n1"]).count, 20)
        let summaries = Dictionary(lab.events("records_suppressed", on: ["n1"]).map {
            ($0.record["kind"]?.stringValue ?? "", $0.record["count"]?.intValue ?? 0)
        }, uniquingKeysWith: +)
        XCTAssertEqual(summaries["forged_refused"], 80)
        XCTAssertEqual(summaries["command_refused"], 10)
    }
}
