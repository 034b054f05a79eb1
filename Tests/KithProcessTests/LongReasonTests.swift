import Foundation
import KithCore
import KithNode
import XCTest

/// Free text from the operator must never break the wire: a kill-switch
/// reason longer than a wire string (255 bytes) is clipped where it enters,
/// so every node still decodes every sync frame. Before the clip, one
/// 300-character reason made every node reject every full-registry sync
/// frame from then on (`frames_rejected` growing every 2 s, forever).
final class LongReasonTests: LabTestCase {
    func testAKillSwitchReasonOf300BytesIsClippedAndEveryNodeKeepsSyncing() throws {
        try killSwitchKeepsTheClusterSyncing(reasonBytes: 300)
    }

    func testAKillSwitchReasonOf64KiBIsClippedAndEveryNodeKeepsSyncing() throws {
        try killSwitchKeepsTheClusterSyncing(reasonBytes: 64 << 10)
    }

    /// A reason of two-byte characters, with a one-byte lead so that a cut at
    /// 255 bytes or at the record's prefix would fall inside a character.
    private func reason(bytes: Int) -> String {
        "x" + String(repeating: "é", count: (bytes - 1) / 2)
    }

    private func framesRejected(on node: String) -> Int64? {
        lab.status(of: node)?["frames_rejected"]?.intValue
    }

    private func killSwitchKeepsTheClusterSyncing(reasonBytes: Int) throws {
        let nodes = ["n1", "n2", "n3"]
        try lab.start(nodes: 3, labArguments: LabHarness.agentRing(perNode: 1, policy: "relaunch"))
        let target = "n2-a1"
        try lab.waitForAgent(target, seenBy: nodes, "every node records \(target) running") { $0["state"] == "running" }
        for node in nodes { XCTAssertEqual(framesRejected(on: node), 0, "\(node) rejected frames before the kill-switch") }

        let reason = reason(bytes: reasonBytes)
        XCTAssertGreaterThanOrEqual(reason.utf8.count, reasonBytes - 1)
        let thrown = try lab.kithctl(on: "n1", ["kill-switch", target, "--reason", reason])
        XCTAssertEqual(thrown.status, 0, thrown.stderr + thrown.stdout)

        let record = try lab.waitForAgent(target, seenBy: nodes, "every node records \(target) killed") { $0["state"] == "killed" }
        let recorded = try XCTUnwrap(record["reason"]?.stringValue)
        XCTAssertLessThanOrEqual(recorded.utf8.count, WireCodec.maxStringBytes, "the record's reason fits a wire string")
        XCTAssertTrue(recorded.hasPrefix("kill-switch at epoch "), recorded)
        let quoted = try XCTUnwrap(recorded.range(of: ": ").map { String(recorded[$0.upperBound...]) })
        XCTAssertTrue(quoted.utf8.count >= OperatorCommand.reasonBytesMax - 1 && reason.hasPrefix(quoted), "the reason is clipped, not replaced: \(recorded)")
        XCTAssertTrue(quoted.hasSuffix("é"), "clipped on a character boundary: \(recorded.suffix(8))")

        // Registry anti-entropy runs every 2 s: four rounds, and every frame still decodes everywhere.
        try lab.holds(for: 8, "no node rejects a frame after the kill-switch") {
            for node in nodes {
                guard let rejected = framesRejected(on: node) else { return "\(node) did not answer status" }
                if rejected != 0 { return "\(node) rejected \(rejected) frames" }
            }
            return nil
        }
        for node in nodes {
            XCTAssertEqual(lab.agents(seenBy: node)?[target]?["reason"]?.stringValue, recorded, "\(node) holds the same record")
        }
        XCTAssertTrue(lab.liveProcesses(of: target).isEmpty, "\(target) is off everywhere")
    }
}
