import Foundation
import KithCore
@testable import KithReport
import XCTest

/// `kithctl check` on a real lab: a crash and its relaunch keep every rule, the message and checkpoint
/// rules judged from the daemons' own records; a saved log that was edited is refused, not checked,
/// and the same history without one delivery record fails the messages rule.
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

    func testMessagesAndCheckpointsThroughANodeSIGKILL_areJudged_andPass_andADroppedDeliveryFails() throws {
        // The reference agents checkpoint their counter and ping the peer they protect every 500 ms (it answers).
        try lab.start(nodes: 3, labArguments: LabHarness.agentRing(perNode: 1, policy: "relaunch"))
        func records(_ node: String) -> [String] {
            let text = (try? String(contentsOfFile: "\(lab.directory)/\(node)/events.jsonl", encoding: .utf8)) ?? ""
            return text.split(separator: "\n").map(String.init)
        }
        try lab.waitUntil("every node records deliveries and checkpoint acknowledgements", timeout: 30) {
            ["n1", "n2", "n3"].allSatisfy { node in
                let lines = records(node)
                return lines.contains { $0.contains("\"messages_delivered\"") } && lines.contains { $0.contains("\"checkpoint_acknowledged\"") }
            }
        }
        XCTAssertEqual(try lab.kithctl(["lab", "kill", "n3"]).status, 0)
        try lab.waitForAgent("n3-a1", seenBy: ["n1", "n2"], "n3-a1 relaunched", timeout: 60) { record in
            record["state"]?.stringValue == "running" && record["node"]?.stringValue != "n3"
        }
        // The relaunched copy pings and checkpoints a while, so its records are judged too.
        Thread.sleep(forTimeInterval: 4)

        let check = try lab.kithctl(["check", "--lab", lab.directory, "--json"])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        let verdict = try JSON.parse(check.stdout)
        let rules = Dictionary(uniqueKeysWithValues: (verdict["rules"]?.arrayValue ?? []).map { ($0["rule"]?.stringValue ?? "", $0) })
        XCTAssertEqual(rules["messages"]?["status"], "ok", check.stdout)
        XCTAssertEqual(rules["checkpoints"]?["status"], "ok", check.stdout)
        XCTAssertGreaterThan(rules["messages"]?["checked"]?.intValue ?? 0, 10, check.stdout)
        XCTAssertGreaterThan(rules["checkpoints"]?["checked"]?.intValue ?? 0, 3, check.stdout)
        print("check: messages \(rules["messages"]?.serialized() ?? "?"), checkpoints \(rules["checkpoints"]?.serialized() ?? "?")")
        let relaunched = ["n1", "n2"].flatMap(records).compactMap { try? JSON.parse($0) }.filter {
            $0["event"] == "agent_spawned" && $0["agent"] == "n3-a1"
        }
        XCTAssertEqual(relaunched.count, 1)
        XCTAssertGreaterThan(relaunched.first?["checkpoint_seq"]?.intValue ?? 0, 0, "the relaunch started from a checkpoint")

        // The same history judged in process, with a short settle bound so that nearly every message is due.
        var settings = HistoryChecker.Settings()
        settings.settleBoundMs = 3000
        func judge(_ lines: [String]) -> HistoryVerdict.RuleOutcome? {
            let events = lines.compactMap { EventRecord(line: $0, node: "?") }
            return HistoryChecker(.init(events: events), settings: settings).check().rules.first { $0.rule == "messages" }
        }
        let all = ["n1", "n2", "n3"].flatMap(records)
        let whole = try XCTUnwrap(judge(all))
        XCTAssertEqual(whole.violations.map(\.text), [])
        // Drop a delivery from n1-a1 (its daemon lives on) to n2-a1, old enough to be due.
        let end = all.compactMap { try? JSON.parse($0)["ts_ms"]?.intValue }.max() ?? 0
        let dropped = try XCTUnwrap(all.first { line in
            guard let record = try? JSON.parse(line) else { return false }
            return record["event"] == "messages_delivered" && record["from"] == "n1-a1" && (record["ts_ms"]?.intValue ?? .max) < end - 5000
        })
        let edited = try XCTUnwrap(judge(all.filter { $0 != dropped }))
        XCTAssertEqual(edited.status, "violated")
        let first = try JSON.parse(dropped)["first_seq"]?.intValue ?? 0
        XCTAssertTrue(edited.violations.contains { $0.text.hasPrefix("messages \(first)") && $0.text.contains("n1-a1 (generation 1) to n2-a1") },
                      edited.violations.map(\.text).joined(separator: "\n"))
    }
}
