import Foundation
import KithCore
import XCTest

/// Key rotation keeps working with per-connection sessions: install a new
/// key everywhere, make it primary, remove the old one, and the cluster never
/// drops a frame; afterwards only the new key opens a session's frames.
/// Frames a fault delays are sealed as they leave, so they authenticate too.
final class KeyRotationTests: LabTestCase {
    private func counter(_ name: String, on node: String) -> Int64 { lab.status(of: node)?[name]?.intValue ?? -1 }

    func testRotatingTheClusterKeyUnderTrafficDropsNoFrameAndRetiresTheOldKey() throws {
        try lab.start(nodes: 3)
        let nodes = ["n1", "n2", "n3"]
        try lab.waitUntil("all see all alive") { lab.allSee(nodes, as: "alive") }
        let key = try lab.kithctl(["keys", "generate"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let keyFile = lab.directory + "/next.keys"
        try "9:\(key)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        let bareKeyFile = lab.directory + "/next.key"
        try "\(key)\n".write(toFile: bareKeyFile, atomically: true, encoding: .utf8)

        for step in [["keys", "install", "9", "--file", bareKeyFile], ["keys", "use", "9"], ["keys", "remove", "1"]] {
            let done = try lab.kithctl(on: "n1", step)
            XCTAssertEqual(done.status, 0, "\(step): \(done.stderr)\(done.stdout)")
        }
        for node in nodes { XCTAssertEqual(lab.status(of: node)?["cluster_key"], 9, node) }
        try lab.holds(for: 3, "the cluster stays whole on the new key") {
            if !lab.allSee(nodes, as: "alive") { return "a member is no longer alive everywhere" }
            for node in nodes where counter("frames_unauthenticated", on: node) != 0 || counter("frames_replayed", on: node) != 0 {
                return "\(node) refused frames during the rotation"
            }
            return nil
        }

        let n1 = NodeID(name: "n1", uid: UInt64(lab.status(of: "n1")?["uid"]?.stringValue ?? "", radix: 16) ?? 0)
        let ping: (UInt32, String) -> [UInt8] = { seq, replyTo in
            WireCodec.encode(.ping(seq: seq, from: NodeID(name: "ghost", uid: 1), replyTo: replyTo, target: n1, gossip: []))
        }
        let current = try SessionPeer(keyFile: keyFile)
        try SessionPeer.Connection(to: lab.node("n1").listen).send(ping(1, current.listenEndpoint), key: current.key)
        XCTAssertTrue(current.pump(timeout: 10) { _ in current.acks(1) == 1 }, "the new key opens a session")

        let retired = try SessionPeer(keyFile: lab.directory + "/cluster.keys")
        let stale = try SessionPeer.Connection(to: lab.node("n1").listen)
        try stale.send(ping(2, retired.listenEndpoint), key: retired.key)
        XCTAssertTrue(stale.isClosedByPeer(withinMs: 3000), "a frame under the removed key is refused")
        try lab.waitUntil("n1 counts it") { counter("frames_unauthenticated", on: "n1") == 1 }
    }

    /// Frames a `delay` fault holds back are sealed when they leave, on the connection then open:
    /// under a delay with jitter (frames held out of order), every frame still authenticates.
    func testDelayedFramesAreSealedWhenTheyLeaveAndAllAuthenticate() throws {
        try lab.start(nodes: 3)
        let nodes = ["n1", "n2", "n3"]
        try lab.waitUntil("all see all alive") { lab.allSee(nodes, as: "alive") }
        let delayed = try lab.kithctl(on: "n1", ["delay", "n1", "/", "n2,n3", "--ms", "80", "--jitter", "60", "--for", "4s"])
        XCTAssertEqual(delayed.status, 0, delayed.stderr + delayed.stdout)
        try lab.waitUntil("n1 delays frames") { counter("frames_delayed", on: "n1") > 20 }
        try lab.holds(for: 3, "the delayed frames all authenticate") {
            for node in nodes where counter("frames_unauthenticated", on: node) != 0 || counter("frames_replayed", on: node) != 0 {
                return "\(node) refused a delayed frame"
            }
            return nil
        }
        try lab.waitUntil("all see all alive once the delay expires") { lab.allSee(nodes, as: "alive") }
    }
}
