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

    func test_acknowledgedMessages_neverSettled_orDeliveredTwiceToOneCopy_areFlagged() throws {
        let texts = try rule(verdict("check-violating", guardians: violatingGuardians), "messages").violations.map(\.text)
        XCTAssertEqual(texts, ["messages 2 of a1 (generation 1) to a3 were delivered twice to one copy (n3, generation 1)",
                               "messages 1 of a1 (generation 1) to a3, acknowledged by n1 at +1200 ms, were neither delivered"
                                   + " nor failed with send_failed"])
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
        XCTAssertEqual(messages.violations.map(\.text),
                       ["messages 2 of a1 (generation 1) to a3 were delivered twice to one copy (n3, generation 1)"])
    }

    // MARK: A clean history

    func test_cleanHistory_passesEveryRule_andChecksEachOne() throws {
        let verdict = try verdict("check-clean", guardians: ["a1": ["a2"], "a3": ["a1"]])
        XCTAssertTrue(verdict.ok, verdict.text)
        XCTAssertEqual(verdict.rules.map(\.status), Array(repeating: "ok", count: 6), verdict.text)
        XCTAssertEqual(try rule(verdict, "relaunch").checked, 2)
        // a1 → a2: 1-3 acknowledged and delivered; a1 → a3: 1 failed, 2 lost with n1 (killed 800 ms after its record).
        XCTAssertEqual(try rule(verdict, "messages").checked, 5)
        XCTAssertEqual(try rule(verdict, "messages").unit, "acknowledged messages (1 lost with their sending daemon)")
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
        // A host that never boots again (SIGKILLed, the history ends): its copy ends at the verdict too.
        let never = HistoryChecker(.init(events: lines.dropLast().compactMap { EventRecord(line: $0, node: "?") })).check()
            .rules.first { $0.rule == "one_copy" }
        XCTAssertEqual(never?.violations.count, 0, never?.violations.map(\.text).joined() ?? "")
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

    // MARK: Coalesced delivery records

    /// Sender n1 (a1, generation 1, to a2) acknowledged 1-10 at +1000; the history ends 40 s later.
    private func messages(_ extra: [String], settings: HistoryChecker.Settings = .init()) -> HistoryVerdict.RuleOutcome? {
        let lines = [
            #"{"seq":1,"ts_ms":0,"node":"n1","event":"started"}"#,
            #"{"seq":1,"ts_ms":0,"node":"n2","event":"started"}"#,
            #"{"seq":2,"ts_ms":1000,"node":"n1","event":"messages_acknowledged","from":"a1","generation":1,"to":"a2","first_seq":1,"last_seq":10}"#,
            #"{"seq":9,"ts_ms":41000,"node":"n2","event":"fault_healed"}"#,
        ] + extra
        return HistoryChecker(.init(events: lines.compactMap { EventRecord(line: $0, node: "?") }), settings: settings).check()
            .rules.first { $0.rule == "messages" }
    }

    private func delivered(_ first: Int, _ last: Int, copy: Int, on node: String = "n2", seq: Int, at ts: Int = 1500) -> String {
        #"{"seq":\#(seq),"ts_ms":\#(ts),"node":"\#(node)","event":"messages_delivered","from":"a1","generation":1,"to":"a2","#
            + #""to_generation":\#(copy),"first_seq":\#(first),"last_seq":\#(last)}"#
    }

    func test_messages_rangesSplitOverCopiesAndFailures_settleEveryPlace() throws {
        let failed = #"{"seq":3,"ts_ms":12000,"node":"n1","event":"send_failed","from":"a1","generation":1,"to":"a2","first_seq":9,"last_seq":10,"reason":"timeout"}"#
        // 1-5 to copy 1, 4-8 again to the relaunched copy 2 (once per copy), 9-10 failed.
        let outcome = try XCTUnwrap(messages([delivered(1, 5, copy: 1, seq: 2), delivered(4, 8, copy: 2, on: "n3", seq: 2), failed]))
        XCTAssertEqual(outcome.status, "ok")
        XCTAssertEqual(outcome.checked, 10)
    }

    func test_messages_aDroppedDeliveryRecord_isALoss_naming_thePlacesMissing() throws {
        let outcome = try XCTUnwrap(messages([delivered(1, 3, copy: 1, seq: 2), delivered(7, 10, copy: 1, seq: 3)]))
        XCTAssertEqual(outcome.violations.map(\.text),
                       ["messages 4-6 of a1 (generation 1) to a2, acknowledged by n1 at +1000 ms, were neither delivered nor failed with send_failed"])
        XCTAssertEqual(outcome.violations.first?.records.map(\.event), ["messages_acknowledged"])
    }

    func test_messages_overlappingRangesToOneCopy_areDeliveredTwice() throws {
        let outcome = try XCTUnwrap(messages([delivered(1, 6, copy: 1, seq: 2), delivered(5, 10, copy: 1, seq: 3)]))
        XCTAssertEqual(outcome.violations.map(\.text), ["messages 5-6 of a1 (generation 1) to a2 were delivered twice to one copy (n2, generation 1)"])
        XCTAssertEqual(outcome.violations.first?.records.count, 2)
    }

    func test_messages_theSameGenerationAfterItsDaemonRestarted_isAnotherCopy() throws {
        // n2 recorded 1-6 delivered, crashed before acknowledging, booted again and ran generation 1 again: 5-10 resent.
        let restarted = #"{"seq":5,"ts_ms":2000,"node":"n2","event":"started"}"#
        let outcome = try XCTUnwrap(messages([delivered(1, 6, copy: 1, seq: 2), restarted, delivered(5, 10, copy: 1, seq: 6, at: 2500)]))
        XCTAssertEqual(outcome.violations.map(\.text), [])
    }

    func test_messages_twoSendingDaemonsOfOneGeneration_areTwoStreams() throws {
        // A split started generation 1 of a1 on n1 and on n3: each daemon numbers its own stream from 1.
        func via(_ line: String, _ endpoint: String) -> String { line.replacingOccurrences(of: #""from":"a1""#, with: #""from":"a1","via":"\#(endpoint)""#) }
        let lines = [
            #"{"seq":1,"ts_ms":0,"node":"n1","event":"started"}"#,
            via(#"{"seq":2,"ts_ms":1000,"node":"n1","event":"messages_acknowledged","from":"a1","generation":1,"to":"a2","first_seq":1,"last_seq":2}"#, "n1:7946"),
            via(#"{"seq":2,"ts_ms":1000,"node":"n3","event":"messages_acknowledged","from":"a1","generation":1,"to":"a2","first_seq":1,"last_seq":1}"#, "n3:7946"),
            via(delivered(1, 2, copy: 1, seq: 2), "n1:7946"),
            via(delivered(1, 1, copy: 1, seq: 3), "n3:7946"),
            #"{"seq":9,"ts_ms":41000,"node":"n2","event":"fault_healed"}"#,
        ]
        let outcome = try XCTUnwrap(HistoryChecker(.init(events: lines.compactMap { EventRecord(line: $0, node: "?") })).check()
            .rules.first { $0.rule == "messages" })
        XCTAssertEqual(outcome.violations.map(\.text), [])
        XCTAssertEqual(outcome.checked, 3)
    }

    func test_messages_sendersDaemonGoneWithinTheOutboxBound_excusesWhatItHeld_laterItDoesNot() throws {
        let partial = delivered(1, 4, copy: 1, seq: 2)
        // n1 crashed unrecorded after its record at +1000 and booted again at +20000: lost with it.
        let rebooted = try XCTUnwrap(messages([partial, #"{"seq":1,"ts_ms":20000,"node":"n1","event":"started"}"#]))
        XCTAssertEqual(rebooted.violations.count, 0)
        XCTAssertEqual(rebooted.unit, "acknowledged messages (6 lost with their sending daemon)")
        // Killed 15 s after the record: its outbox had given up (send_failed) by then, so the loss stands.
        let late = try XCTUnwrap(messages([partial, #"{"seq":3,"ts_ms":16000,"node":"n1","event":"kill_requested"}"#]))
        XCTAssertEqual(late.violations.count, 1)
        // Within the settle bound of the end of the history: pending, not judged.
        let young = try XCTUnwrap(messages([partial], settings: { var s = HistoryChecker.Settings(); s.settleBoundMs = 50_000; return s }()))
        XCTAssertEqual(young.violations.count, 0)
        XCTAssertEqual(young.pending, 6)
    }

    func test_checkpoints_spawnFromNoCheckpointAfterAnAck_isALoss_anAckRecordedAfterTheSpawnIsNotJudged() throws {
        let lines = [
            #"{"seq":1,"ts_ms":1000,"node":"n1","event":"agent_spawned","agent":"a","generation":1,"pid":7,"checkpoint_generation":0,"checkpoint_seq":0}"#,
            #"{"seq":2,"ts_ms":2000,"node":"n1","event":"checkpoint_acknowledged","agent":"a","generation":1,"checkpoint_seq":4}"#,
            #"{"seq":1,"ts_ms":5000,"node":"n2","event":"agent_spawned","agent":"a","generation":2,"pid":8,"checkpoint_generation":0,"checkpoint_seq":0}"#,
            // Coalesced: acknowledged before the spawn at +5500, written after it: judged only against later spawns.
            #"{"seq":3,"ts_ms":5600,"node":"n1","event":"checkpoint_acknowledged","agent":"a","generation":1,"checkpoint_seq":9}"#,
            #"{"seq":2,"ts_ms":5500,"node":"n2","event":"agent_spawned","agent":"a","generation":3,"pid":9,"checkpoint_generation":1,"checkpoint_seq":4}"#,
        ]
        let outcome = try XCTUnwrap(HistoryChecker(.init(events: lines.compactMap { EventRecord(line: $0, node: "?") })).check()
            .rules.first { $0.rule == "checkpoints" })
        XCTAssertEqual(outcome.violations.map(\.text),
                       ["a started on n2 at +4000 ms from no checkpoint, but checkpoint 1.4 was acknowledged on n1 at +1000 ms"])
        XCTAssertEqual(outcome.checked, 2)
    }

    func test_intervals_subtractHoles() {
        XCTAssertEqual(Intervals.subtract([(0, 10)], [(2, 4), (8, 20)]).map { [$0.0, $0.1] }, [[0, 2], [4, 8]])
        XCTAssertTrue(Intervals.subtract([(0, 10)], [(0, .max)]).isEmpty)
        XCTAssertTrue(Intervals.subtract([(5, 5)], []).isEmpty)
    }
}
