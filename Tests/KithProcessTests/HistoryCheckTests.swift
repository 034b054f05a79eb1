import Foundation
import KithCore
import XCTest

/// `kithctl check` on a real lab: a crash and its relaunch keep every rule; a saved log that was
/// edited is refused, not checked.
final class HistoryCheckTests: LabTestCase {
    func testALabThroughANodeCrashAndRelaunchPassesTheCheck() throws {
        try lab.start(nodes: 3, labArguments: LabHarness.agentRing(perNode: 1, policy: "relaunch"))
        let killed = try lab.kithctl(on: "n1", ["kill", "node", "n3"])
        XCTAssertEqual(killed.status, 0, killed.stderr)
        try lab.waitForAgent("n3-a1", seenBy: ["n1", "n2"], "n3-a1 relaunched") { record in
            record["state"]?.stringValue == "running" && record["node"]?.stringValue != "n3"
        }
        let check = try lab.kithctl(["check", "--lab", lab.directory, "--json"])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        let verdict = try JSON.parse(check.stdout)
        XCTAssertEqual(verdict["ok"], true)
        let rules = Dictionary(uniqueKeysWithValues: (verdict["rules"]?.arrayValue ?? []).map {
            ($0["rule"]?.stringValue ?? "", $0)
        })
        // The crash was seen (dead verdicts explained by kill_requested) and the lost agent's relaunch was checked.
        XCTAssertGreaterThanOrEqual(rules["dead_verdicts"]?["checked"]?.intValue ?? 0, 2, check.stdout)
        XCTAssertEqual(rules["relaunch"]?["status"], "ok", check.stdout)
        XCTAssertEqual(rules["one_copy"]?["status"], "ok", check.stdout)
        XCTAssertEqual((verdict["logs"]?.arrayValue ?? []).filter { $0["ok"] == true }.count, 3, check.stdout)

        // A node's log with one record edited does not verify: check fails without checking it.
        let source = lab.directory + "/n1/events.jsonl"
        let copy = lab.directory + "/edited-events.jsonl"
        var lines = try String(contentsOfFile: source, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[1] = lines[1].replacingOccurrences(of: "\"ts_ms\":", with: "\"ts_ms\":1")
        try (lines.joined(separator: "\n") + "\n").write(toFile: copy, atomically: true, encoding: .utf8)
        let edited = try lab.kithctl(["check", copy])
        XCTAssertEqual(edited.status, 1, edited.stdout)
        XCTAssertTrue(edited.stdout.contains("n1: NOT VERIFIED"), edited.stdout)
        XCTAssertTrue(edited.stderr.contains("logs that do not verify (not checked): n1"), edited.stderr)
    }
}
