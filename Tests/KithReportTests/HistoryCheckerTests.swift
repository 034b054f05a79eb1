import KithJSON
import XCTest
@testable import KithReport

/// The history checker over hand-made histories (Fixtures/check-*.events.jsonl: one that breaks every
/// rule once or twice, one that keeps them all through a crash, a kill-switch and a paused host) and
/// over the real run of crash-mask-partition, whose partition left two copies of two agents.
final class HistoryCheckerTests: XCTestCase {
    private func verdict(_ name: String, guardians: [String: [String]]? = nil,
                         editing edit: ([String]) -> [String] = { $0 }) throws -> HistoryVerdict {
        let events = edit(try RunFixture.lines(name)).compactMap { EventRecord(line: $0, node: "?") }
        XCTAssertFalse(events.isEmpty)
        return HistoryChecker(.init(events: events, guardians: guardians)).check()
    }

    private func rule(_ verdict: HistoryVerdict, _ name: String) throws -> HistoryVerdict.RuleOutcome {
        try XCTUnwrap(verdict.rules.first { $0.rule == name }, "no rule \(name)")
    }

    // MARK: A violating history

    private let violatingGuardians = ["a4": ["a1"], "a1": ["a4"]]

    func test_violatingHistory_failsWithEveryViolationAndTheRecordsThatShowIt() throws {
        let verdict = try verdict("check-violating", guardians: violatingGuardians)
        XCTAssertFalse(verdict.ok)
        XCTAssertEqual(Dictionary(grouping: verdict.violations, by: \.rule).mapValues(\.count),
                       ["one_copy": 1, "kill_switch": 1, "checkpoints": 1, "messages": 2, "dead_verdicts": 1, "relaunch": 1])
        XCTAssertTrue(verdict.violations.allSatisfy { !$0.records.isEmpty })
        XCTAssertTrue(verdict.text.contains("VIOLATION [one_copy]"))
        XCTAssertEqual(verdict.json["ok"]?.boolValue, false)
    }

    func test_politeStop_relaunchBeforeTheOldCopyExited_isTwoProcessesAtOnce() throws {
        let violation = try XCTUnwrap(rule(verdict("check-violating", guardians: violatingGuardians), "one_copy").violations.first)
        // a1 pid 101 stopped at +1000, exited (agent_stopped) at +1050; pid 202 spawned on n2 at +1006.
        XCTAssertTrue(violation.text.hasPrefix("2 processes of a1 at once for 44 ms from +1006 ms"), violation.text)
        XCTAssertEqual(violation.records.map(\.event), ["agent_spawned", "agent_spawned", "agent_stopped"])
    }

    func test_spawnAfterKillSwitch_isFlagged() throws {
        let violation = try XCTUnwrap(rule(verdict("check-violating", guardians: violatingGuardians), "kill_switch").violations.first)
        XCTAssertTrue(violation.text.contains("a2 spawned on n3 (pid 302) at +2100 ms, after its kill-switch at +2000 ms"), violation.text)
    }

    func test_spawnFromAnOlderCheckpointThanAcknowledged_isALostCheckpoint() throws {
        let violation = try XCTUnwrap(rule(verdict("check-violating", guardians: violatingGuardians), "checkpoints").violations.first)
        XCTAssertTrue(violation.text.contains("a3 started on n1 at +3000 ms from checkpoint 1.3, but checkpoint 1.7 was acknowledged"),
                      violation.text)
    }

    func test_acknowledgedMessages_neverSettled_orDeliveredTwice_areFlagged() throws {
        let texts = try rule(verdict("check-violating", guardians: violatingGuardians), "messages").violations.map(\.text)
        XCTAssertEqual(texts, ["message x1 from a1, acknowledged at +1200 ms, was neither delivered nor failed with send_failed",
                               "message x2 from a1 was delivered 2 times"])
    }

    func test_deadVerdictWithNoFault_isFlagged() throws {
        let violation = try XCTUnwrap(rule(verdict("check-violating", guardians: violatingGuardians), "dead_verdicts").violations.first)
        XCTAssertTrue(violation.text.hasPrefix("n2 declared n3 dead at +3500 ms"), violation.text)
    }

    func test_guardedAgentLost_neverBack_isFlagged_butWithoutAGuardianIsNotChecked() throws {
        let guarded = try rule(verdict("check-violating", guardians: violatingGuardians), "relaunch")
        XCTAssertEqual(guarded.violations.map(\.text), ["a4 lost at +4000 ms never ran again (the history ends 36000 ms later) (bound 15000 ms)"])
        let unguarded = try rule(verdict("check-violating", guardians: ["a4": []]), "relaunch")
        XCTAssertEqual(unguarded.violations.count, 0)
        XCTAssertEqual(unguarded.status, "not checked")
    }

    func test_ackYoungerThanTheSettleBound_isPending_notAViolation() throws {
        // Without the last record (+40 s), the history ends 1.8 s after x1 was acknowledged.
        let messages = try rule(verdict("check-violating", guardians: violatingGuardians) { $0.filter { !$0.contains("fault_healed") } },
                                "messages")
        XCTAssertEqual(messages.pending, 1)
        XCTAssertEqual(messages.violations.map(\.text), ["message x2 from a1 was delivered 2 times"])
    }

    // MARK: A clean history

    func test_cleanHistory_passesEveryRule_andChecksEachOne() throws {
        let verdict = try verdict("check-clean", guardians: ["a1": ["a2"], "a3": ["a1"]])
        XCTAssertTrue(verdict.ok, verdict.text)
        XCTAssertEqual(verdict.rules.map(\.status), Array(repeating: "ok", count: 6), verdict.text)
        XCTAssertEqual(try rule(verdict, "relaunch").checked, 2)
        XCTAssertEqual(try rule(verdict, "messages").checked, 2)
        XCTAssertTrue(verdict.summary.hasPrefix("check: ok (6 rules, 0 not checked"), verdict.summary)
    }

    func test_copyOnAPausedHost_isFrozen_soItsRelaunchedCopyIsNoDuplicate() throws {
        // a3 pid 301 on n3 (paused +4000 for 1 s) stops at +5100; its relaunch pid 203 runs on n2 from +4500.
        let paused = try rule(verdict("check-clean"), "one_copy")
        XCTAssertEqual(paused.violations.count, 0)
        // Without the pause the same records are two copies at once.
        let unpaused = try rule(verdict("check-clean") { $0.filter { !$0.contains("pause_requested") } }, "one_copy")
        XCTAssertEqual(unpaused.violations.map(\.text).first?.hasPrefix("2 processes of a3 at once for 600 ms"), true)
    }

    func test_deadVerdictsFollowingAKill_areExplained_untilTheKillRecordIsRemoved() throws {
        XCTAssertEqual(try rule(verdict("check-clean"), "dead_verdicts").violations.count, 0)
        let unexplained = try rule(verdict("check-clean") { $0.filter { !$0.contains("kill_requested") } }, "dead_verdicts")
        XCTAssertEqual(unexplained.violations.map(\.text).map { $0.prefix(27) }, ["n2 declared n1 dead at +250", "n3 declared n1 dead at +260"])
    }

    func test_withoutDeliveryRecords_theDeliveryRulesSayNotChecked() throws {
        let verdict = try verdict("check-clean") { $0.filter { !$0.contains("acknowledged") } }
        XCTAssertEqual(try rule(verdict, "messages").status, "not checked")
        XCTAssertEqual(try rule(verdict, "checkpoints").status, "not checked")
        XCTAssertTrue(verdict.ok)
    }

    func test_copyStopped_thenItsDaemonShutDown_endsAtTheStop_notAtTheShutdown() throws {
        // n2 stops its copy at +100 (no exit recorded, as today's daemons do), n3 runs the next generation
        // from +200, n2 shuts down at +5000: one copy at a time.
        let lines = [
            #"{"seq":1,"ts_ms":1000,"node":"n2","event":"agent_spawned","agent":"a","generation":1,"pid":7}"#,
            #"{"seq":2,"ts_ms":1100,"node":"n2","event":"agent_stopping","agent":"a","generation":1,"reason":"duplicate"}"#,
            #"{"seq":1,"ts_ms":1200,"node":"n3","event":"agent_spawned","agent":"a","generation":2,"pid":8}"#,
            #"{"seq":3,"ts_ms":6000,"node":"n2","event":"shutdown_requested"}"#,
        ]
        let events = lines.compactMap { EventRecord(line: $0, node: "?") }
        let copies = HistoryChecker(.init(events: events)).check().rules.first { $0.rule == "one_copy" }
        XCTAssertEqual(copies?.violations.count, 0)
        XCTAssertEqual(copies?.checked, 2)
    }

    func test_copyOnAHostThatCrashedUnrecorded_endsAtTheFirstDeadVerdict_notAtItsNextBoot() throws {
        // n2 (a container killed: nothing recorded) runs a until it is declared dead at +1300; n3 runs generation 2
        // from +1310; n2 boots again at +1800. Without the verdict, both would count until +1800.
        let lines = [
            #"{"seq":1,"ts_ms":1000,"node":"n2","event":"agent_spawned","agent":"a","generation":1,"pid":7}"#,
            #"{"seq":1,"ts_ms":1300,"node":"n3","event":"member_changed","member":"n2","state":"dead"}"#,
            #"{"seq":2,"ts_ms":1310,"node":"n3","event":"agent_spawned","agent":"a","generation":2,"pid":8}"#,
            #"{"seq":2,"ts_ms":1800,"node":"n2","event":"started"}"#,
        ]
        let events = lines.compactMap { EventRecord(line: $0, node: "?") }
        let copies = HistoryChecker(.init(events: events)).check().rules.first { $0.rule == "one_copy" }
        XCTAssertEqual(copies?.violations.count, 0, copies?.violations.map(\.text).joined() ?? "")
        XCTAssertEqual(copies?.checked, 2)
        // A verdict that came only after the relaunch leaves the overlap in place.
        let late = lines.map { $0.replacingOccurrences(of: #""ts_ms":1300"#, with: #""ts_ms":1500"#) }
        let lateCopies = HistoryChecker(.init(events: late.compactMap { EventRecord(line: $0, node: "?") })).check()
            .rules.first { $0.rule == "one_copy" }
        XCTAssertEqual(lateCopies?.violations.count, 1)
    }

    func test_relaunch_staleLossOfAReplacedGeneration_isNoLoss_andGuardiansAreInferredFromRequests() throws {
        // a2 asked to relaunch a1 once; a1 runs at generation 3 when a rejoining n3 records generation 2 lost.
        let lines = [
            #"{"seq":1,"ts_ms":1000,"node":"n1","event":"agent_changed","agent":"a2","generation":1,"host":"n1","state":"running","previous":"starting","reason":"started"}"#,
            #"{"seq":2,"ts_ms":1100,"node":"n1","event":"relaunch_requested","agent":"a1","by":"a2"}"#,
            #"{"seq":3,"ts_ms":1200,"node":"n1","event":"agent_changed","agent":"a1","generation":3,"host":"n2","state":"running","previous":"starting","reason":"relaunched"}"#,
            #"{"seq":1,"ts_ms":5000,"node":"n3","event":"agent_changed","agent":"a1","generation":2,"host":"n3","state":"lost","previous":"running","reason":"host n3 restarted"}"#,
            #"{"seq":2,"ts_ms":9000,"node":"n3","event":"agent_changed","agent":"a1","generation":4,"host":"n1","state":"lost","previous":"running","reason":"host n1 dead"}"#,
            #"{"seq":3,"ts_ms":60000,"node":"n3","event":"fault_healed"}"#,
        ]
        let events = lines.compactMap { EventRecord(line: $0, node: "?") }
        let relaunch = try XCTUnwrap(HistoryChecker(.init(events: events)).check().rules.first { $0.rule == "relaunch" })
        XCTAssertEqual(relaunch.checked, 1)
        XCTAssertEqual(relaunch.violations.map(\.text), ["a1 lost at +8000 ms never ran again (the history ends 51000 ms later) (bound 15000 ms)"])
    }

    // MARK: A real run

    func test_realRun_keepsEveryRule_itsPartitionDuplicatesEndingWithinTheMergeGrace() throws {
        let verdict = try verdict(RunFixture.crashMaskPartition)
        // n1 cut off from n2 and n4 for 4 s from +6.0 s: both sides relaunched n2-a1 and n3-a1; the duplicates
        // were stopped 0.7 s (n3-a1) and 2.7 s (n2-a1) after the partition expired, within the 5 s merge grace.
        XCTAssertTrue(verdict.ok, verdict.text)
        XCTAssertEqual(try rule(verdict, "one_copy").checked, 7)
        XCTAssertEqual(try rule(verdict, "dead_verdicts").checked, 7)
        XCTAssertEqual(try rule(verdict, "kill_switch").checked, 1)
        // Without guardian data only n3-a1 is known to be guarded (n2-a1 asked to relaunch it); both of its losses
        // count, the one its relaunching node recorded in the same millisecond as the relaunch included.
        XCTAssertEqual(try rule(verdict, "relaunch").checked, 2)
    }

    func test_realRun_withoutItsPartitionRecords_hasTwoCopiesAtOnce_andUnexplainedDeadVerdicts() throws {
        let verdict = try verdict(RunFixture.crashMaskPartition) { $0.filter { !$0.contains("\"fault_set\"") } }
        XCTAssertEqual(try rule(verdict, "one_copy").violations.map { $0.text.prefix(28) },
                       ["2 processes of n2-a1 at once", "2 processes of n3-a1 at once"])
        XCTAssertGreaterThan(try rule(verdict, "dead_verdicts").violations.count, 0)
    }

    func test_tighterMergeGrace_flagsTheSlowerDuplicateStop() throws {
        let events = try RunFixture.lines(RunFixture.crashMaskPartition).compactMap { EventRecord(line: $0, node: "?") }
        var settings = HistoryChecker.Settings()
        settings.splitGraceMs = 1000
        let copies = HistoryChecker(.init(events: events), settings: settings).check().rules.first { $0.rule == "one_copy" }
        // The partition expired at +10.0 s; n3-a1's duplicate was stopped at +10.8 s, n2-a1's only at +12.8 s.
        XCTAssertEqual(copies?.violations.map { $0.text.prefix(28) }, ["2 processes of n2-a1 at once"])
    }

    func test_intervals_subtractHoles() {
        XCTAssertEqual(Intervals.subtract([(0, 10)], [(2, 4), (8, 20)]).map { [$0.0, $0.1] }, [[0, 2], [4, 8]])
        XCTAssertTrue(Intervals.subtract([(0, 10)], [(0, .max)]).isEmpty)
        XCTAssertTrue(Intervals.subtract([(5, 5)], []).isEmpty)
    }
}
