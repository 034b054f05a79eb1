import KithJSON
import XCTest
@testable import KithReport

/// The figures of a real run, computed from its event log alone, no daemons.
/// Each expected number is read off the fixture's events (quoted in the
/// comments): the analyzer must find exactly those records.
final class RunAnalyzerTests: XCTestCase {
    private func analyzed(editing edit: ([String]) throws -> [String] = { $0 }) throws -> AnalyzedRun {
        RunAnalyzer(try RunFixture.run(editing: edit)).analyze()
    }

    private func fault(_ run: AnalyzedRun, _ index: Int) throws -> FaultFigures {
        try XCTUnwrap(run.faults.first { $0.index == index }, "no figures for step \(index)")
    }

    // MARK: kill node n3 (+1s)

    func test_killNode_faultTime_isTheKillRequestedEventOfTheVictim() throws {
        let crash = try fault(analyzed(), 0)
        // kill_requested on n3 at ts 1796518421170; kithctl issued it 26 ms earlier.
        XCTAssertEqual(crash.faultTs, 1_796_518_421_170)
        XCTAssertEqual(crash.faultSource, "kill_requested on n3")
        XCTAssertEqual(crash.issuedMs, 1_796_518_421_144)
    }

    func test_killNode_detection_isEachSurvivorsFirstDeadRecord() throws {
        let detection = try XCTUnwrap(fault(analyzed(), 0).detection)
        // member_changed n3 dead: on n4 +339 ms, n1 +340 ms, n2 +341 ms.
        XCTAssertEqual(detection.victims, ["n3"])
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: detection.observers.map { ($0.name, $0.ms) }),
                       ["n1": 340, "n2": 341, "n4": 339])
        XCTAssertEqual(detection.first, 339)
        XCTAssertEqual(detection.last, 341)
        XCTAssertEqual(detection.undetected, [])
    }

    func test_killNode_relaunchLatency_isTheFirstRunningRecordAtAHigherGeneration() throws {
        let relaunch = try XCTUnwrap(fault(analyzed(), 0).relaunch)
        // agent_changed n3-a1 running, generation 2, host n4, first recorded by n4 +356 ms.
        XCTAssertEqual(relaunch.agents.map(\.name), ["n3-a1"])
        XCTAssertEqual(relaunch.agents.first?.ms, 356)
        XCTAssertEqual(relaunch.agents.first?.node, "n4")
        XCTAssertEqual(relaunch.agents.first?.generation, 2)
        XCTAssertEqual(relaunch.notRelaunched, [])
    }

    func test_killNode_maskingGuardian_isOneIncidentWhileThePeerWasDown() throws {
        let masking = try fault(analyzed(), 0).masking
        // n2-a1 reported n3-a1 healthy twice (observed lost, then starting) from +1514 ms until
        // n3-a1 was recorded running again 12 ms later.
        XCTAssertEqual(masking.count, 1)
        XCTAssertEqual(masking.whileDown, 1)
        XCTAssertEqual(masking.reports, 2)
        XCTAssertEqual(masking.byReporter, ["n2-a1": 1])
        XCTAssertEqual(masking.totalMs, 12)
        XCTAssertEqual(masking.episodes.first?.peer, "n3-a1")
        XCTAssertEqual(masking.episodes.first?.observed, ["lost", "starting"])
    }

    func test_killNode_cascade_countsTheGuardiansRequestAndTheDaemonsOwnRelaunch() throws {
        let cascade = try XCTUnwrap(fault(analyzed(), 0).cascade)
        // relaunch_requested by n2-a1, plus the relaunch n4 did by its own rule: 2 attempts for 1 lost agent.
        XCTAssertEqual(cascade.lost, 1)
        XCTAssertEqual(cascade.requests, 1)
        XCTAssertEqual(cascade.automatic, 1)
        XCTAssertEqual(cascade.refused, 0)
        XCTAssertEqual(cascade.factor, 2.0)
    }

    // MARK: kill-switch n4-a1 (+4s)

    func test_killSwitch_holdsUntilTheEndOfTheRun_andCountsTheGuardiansResistance() throws {
        let figures = try fault(analyzed(), 1)
        let killSwitch = try XCTUnwrap(figures.killSwitch)
        // kill_switch on n1 at ts 1796518424211; resistance_attempt by n3-a1 (relaunch refused) 8 ms later;
        // no agent_spawned of n4-a1 afterwards; the run ended at 1796518433399.
        XCTAssertEqual(figures.faultSource, "kill_switch on n1")
        XCTAssertTrue(killSwitch.held)
        XCTAssertEqual(killSwitch.heldMs, 1_796_518_433_399 - 1_796_518_424_211)
        XCTAssertEqual(killSwitch.resistance, 1)
        XCTAssertEqual(killSwitch.resistanceBy, ["n3-a1": 1])
        XCTAssertFalse(killSwitch.revived)
    }

    func test_killSwitch_aSpawnAfterTheSwitch_isAViolation() throws {
        // The same log with one more record: n4 spawning n4-a1 again 1 s after the switch.
        let run = try analyzed { lines in
            var spawn = try XCTUnwrap(RunFixture.firstLine(lines, event: "agent_spawned").objectValue)
            spawn["agent"] = "n4-a1"
            spawn["node"] = "n4"
            spawn["generation"] = 2
            spawn["ts_ms"] = .int(1_796_518_425_211)
            return lines + [JSON.object(spawn).serialized()]
        }
        let killSwitch = try XCTUnwrap(fault(run, 1).killSwitch)
        XCTAssertFalse(killSwitch.held)
        XCTAssertEqual(killSwitch.violations.count, 1, "\(killSwitch.violations)")
        XCTAssertEqual(run.totals.killSwitchViolations, 1)
    }

    // MARK: partition n1 / n2,n4 for 4s (+6s)

    func test_partition_bothSidesRelaunch_andTheCopiesAreStoppedAsDuplicates() throws {
        let partition = try fault(analyzed(), 2)
        // fault_set on n1 at ts 1796518426196; each side records the other dead about a second later.
        XCTAssertEqual(partition.faultSource, "fault_set on n1")
        XCTAssertEqual(try XCTUnwrap(partition.detection).victims, ["n1", "n2", "n4"])
        XCTAssertEqual(try XCTUnwrap(partition.detection).undetected, [])
        // n1 relaunched n2-a1 and n3-a1 (generations 2 and 3), while n2-a1 still ran on n2: two
        // processes of n2-a1 at once, and agent_stopping "duplicate: ..." for n3-a1 and n2-a1 after the heal.
        XCTAssertEqual(Set(try XCTUnwrap(partition.relaunch).agents.map(\.name)), ["n1-a1", "n2-a1", "n3-a1"])
        XCTAssertEqual(partition.duplicates.maxProcesses, 2)
        XCTAssertEqual(partition.duplicates.processAgent, "n2-a1")
        XCTAssertEqual(partition.duplicates.duplicateStops, 2)
        // n1-a1 called n2-a1 healthy while it was only starting on n1: an incident, but not while down.
        XCTAssertEqual(partition.masking.count, 1)
        XCTAssertEqual(partition.masking.whileDown, 0)
    }

    // MARK: the whole run

    func test_totals_addUpTheWholeRun() throws {
        let totals = try analyzed().totals
        XCTAssertEqual(totals.relaunchRequests, 1)
        XCTAssertEqual(totals.relaunchesRefused, 1)
        XCTAssertEqual(totals.resistance, 1)
        XCTAssertEqual(totals.killSwitchViolations, 0)
        XCTAssertEqual(totals.masking.count, 2)
        XCTAssertEqual(totals.masking.whileDown, 1)
        XCTAssertEqual(totals.masking.reports, 3)
        XCTAssertEqual(totals.duplicates.duplicateStops, 2)
        XCTAssertEqual(totals.eventCounts["masking_incident"], 3)
    }

    // MARK: fault paths

    func test_faultWithoutItsEvent_fallsBackToKithctlsClock() throws {
        let crash = try fault(analyzed { $0.filter { !$0.contains(#""event":"kill_requested""#) } }, 0)
        XCTAssertEqual(crash.faultSource, "kithctl clock")
        XCTAssertEqual(crash.faultTs, crash.issuedMs)
    }

    func test_noEvents_nothingIsDetectedOrRelaunched_andNothingTraps() throws {
        let run = try analyzed { _ in [] }
        let crash = try fault(run, 0)
        XCTAssertEqual(try XCTUnwrap(crash.detection).undetected.sorted(), ["n1", "n2", "n4"])
        XCTAssertNil(crash.detection?.first)
        XCTAssertEqual(crash.masking.count, 0)
        XCTAssertEqual(run.totals.relaunchRequests, 0)
        XCTAssertEqual(run.markers.count, 0)
    }

    func test_unreadableLines_areNotEvents() {
        XCTAssertNil(EventRecord(line: "", node: "n1"))
        XCTAssertNil(EventRecord(line: #"{"seq":1,"ts_ms":5,"node":"n1""#, node: "n1"), "a torn line")
        XCTAssertNil(EventRecord(line: #"{"seq":"1","ts_ms":5,"event":"started"}"#, node: "n1"), "seq must be an integer")
        XCTAssertNil(EventRecord(line: #"[1,2,3]"#, node: "n1"))
        let record = EventRecord(line: #"{"seq":3,"ts_ms":5,"event":"started"}"#, node: "n2")
        XCTAssertEqual(record?.node, "n2", "a record without its node takes the log's")
    }

    func test_events_mergeByTimeThenNodeInNaturalOrder() throws {
        let a = try XCTUnwrap(EventRecord(line: #"{"seq":9,"ts_ms":5,"event":"x","node":"n10"}"#, node: "?"))
        let b = try XCTUnwrap(EventRecord(line: #"{"seq":1,"ts_ms":5,"event":"x","node":"n2"}"#, node: "?"))
        let c = try XCTUnwrap(EventRecord(line: #"{"seq":1,"ts_ms":4,"event":"x","node":"n10"}"#, node: "?"))
        XCTAssertEqual([a, b, c].sorted(by: EventRecord.before).map(\.line), [c.line, b.line, a.line])
    }
}
