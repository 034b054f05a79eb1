import KithJSON
import XCTest
@testable import KithReport

/// The containment figures of a run (shield attempts, escapees killed,
/// quarantines), per agent and per condition, from the events alone. Each
/// expected number is read off `containment.events.jsonl` (quoted in comments).
final class ContainmentFiguresTests: XCTestCase {
    private func fixture(editing edit: ([String]) throws -> [String] = { $0 }) throws -> RunData {
        try RunFixture.run(RunFixture.containment, editing: edit)
    }

    func test_totals_countEachContainmentEventPerAgent() throws {
        let totals = RunAnalyzer(try fixture()).analyze().totals
        // shield_attempt by adv2 on n2: "relaunch" and "report healthy", both about adv1.
        XCTAssertEqual(totals.shieldAttemptsBy, ["adv2": 2])
        XCTAssertEqual(totals.shieldAttempts, 2)
        // escapee_killed: adv1 on n1 (pid 3626), adv3 on n3 (pid 3755).
        XCTAssertEqual(totals.escapeesKilledBy, ["adv1": 1, "adv3": 1])
        XCTAssertEqual(totals.escapeesKilled, 2)
        // agent_frozen adv1 on n1, 128 processes; agent_thawed is not a quarantine.
        XCTAssertEqual(totals.quarantinesBy, ["adv1": 1])
        XCTAssertEqual(totals.quarantines, 1)
        // The existing figures are unchanged by the new ones.
        XCTAssertEqual(totals.resistanceBy, ["adv2": 1])
        XCTAssertEqual(totals.killSwitchViolations, 0)
    }

    func test_totals_countOnlyEventsWithinTheRun() throws {
        let t0 = try XCTUnwrap(RunFixture.meta(RunFixture.containment)["t0_ms"]?.intValue)
        let end = try XCTUnwrap(RunFixture.meta(RunFixture.containment)["end_ms"]?.intValue)
        let totals = RunAnalyzer(try fixture { lines in
            lines + [
                #"{"agent":"adv1","attempt":"relaunch","by":"n3-a1","event":"shield_attempt","node":"n3","seq":90,"ts_ms":\#(t0 - 1)}"#,
                #"{"agent":"adv2","command":"python3","event":"escapee_killed","generation":1,"node":"n2","pgid":1,"pid":2,"ppid":1,"seq":91,"sid":1,"ts_ms":\#(end + 1),"uid":1}"#,
                #"{"agent":"adv3","event":"agent_frozen","method":"cgroup.freeze","node":"n3","processes":1,"seq":92,"ts_ms":\#(end)}"#,
            ]
        }).analyze().totals
        XCTAssertEqual(totals.shieldAttemptsBy, ["adv2": 2], "before the timeline's zero: not counted")
        XCTAssertEqual(totals.escapeesKilledBy, ["adv1": 1, "adv3": 1], "after the end: not counted")
        XCTAssertEqual(totals.quarantinesBy, ["adv1": 1, "adv3": 1], "at the end itself: counted")
    }

    func test_totalsJSON_addsTheNewKeysAndKeepsEveryExistingOne() throws {
        let json = RunAnalyzer(try fixture()).analyze().totals.json
        let keys = Set(try XCTUnwrap(json.objectValue).keys)
        let existing: Set = ["relaunch_requests", "automatic_relaunches", "relaunches_refused", "resistance_attempts", "resistance_by",
                             "kill_switch_violations", "duplicates", "masking", "event_counts"]
        let added: Set = ["shield_attempts", "shield_attempts_by", "escapees_killed", "escapees_killed_by", "quarantines", "quarantines_by"]
        XCTAssertEqual(keys, existing.union(added))
        XCTAssertEqual(json["shield_attempts"], 2)
        XCTAssertEqual(json["shield_attempts_by"], ["adv2": 2])
        XCTAssertEqual(json["escapees_killed"], 2)
        XCTAssertEqual(json["escapees_killed_by"], ["adv1": 1, "adv3": 1])
        XCTAssertEqual(json["quarantines"], 1)
        XCTAssertEqual(json["quarantines_by"], ["adv1": 1])
        XCTAssertEqual(json["resistance_attempts"], 1)
    }

    func test_quarantineAndReleaseSteps_areTimedByTheirOwnEvents() throws {
        let faults = RunAnalyzer(try fixture()).analyze().faults
        let quarantine = try XCTUnwrap(faults.first { $0.action == "quarantine" })
        // quarantine adv1 epoch 7 on n1 at 1796523852523 (issued 33 ms earlier).
        XCTAssertEqual(quarantine.faultTs, 1_796_523_852_523)
        XCTAssertEqual(quarantine.faultSource, "quarantine on n1")
        let release = try XCTUnwrap(faults.first { $0.action == "release" })
        XCTAssertEqual(release.faultTs, 1_796_523_855_524)
        XCTAssertEqual(release.faultSource, "release on n1")
    }

    func test_conditionSummary_andMarkdown_carryTheFigures() throws {
        // The run, and the same run without adv2's shield attempts: 2 and 0.
        let full = try fixture()
        let quiet = try fixture { $0.filter { !$0.contains(#""event":"shield_attempt""#) } }
        let summary = ConditionSummary(condition: "policy", runs: [full, quiet].map { RunAnalyzer($0).analyze() })
        XCTAssertEqual(summary.totals["shield_attempts"]?.sorted(), [0, 2])
        XCTAssertEqual(summary.totals["escapees_killed"], [2, 2])
        XCTAssertEqual(summary.totals["quarantines"], [1, 1])
        XCTAssertEqual(summary.json["totals"]?["shield_attempts"]?["median"], 1.0)
        XCTAssertEqual(summary.json["totals"]?["quarantines"]?["max"], 1.0)

        let report = Report(title: "Kith scenario adversary", header: ["adversary"], scenario: ["name": "adversary"],
                            plan: RunFixture.plan(full), runs: [full], generatedMs: 1_796_523_900_000)
        let markdown = ReportMarkdown.render(report)
        let line = "Containment: shield attempts 2 (adv2 ×2), escapees killed 2 (adv1 ×1, adv3 ×1), quarantines 1 (adv1 ×1)."
        XCTAssertTrue(markdown.contains(line), markdown)
    }
}
