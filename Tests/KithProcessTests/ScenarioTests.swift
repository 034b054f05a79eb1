import KithLab
import Foundation
import Glibc
import KithCore
import KithNode
import XCTest

/// `kithctl run` and `kithctl demo` end to end: a small scenario on a lab of
/// real daemons, its report checked against figures recomputed here from the
/// events file it saves; the dry run, malformed files, healing an existing
/// cluster, and the demo.
final class ScenarioTests: LabTestCase {
    /// Long enough for a lab to start, run its timeline and stop, with room to spare.
    static let runTimeout = 120.0

    private var workDirectory: String {
        let path = lab.directory + "/scenario"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func write(_ scenario: String, name: String = "scenario.json") throws -> String {
        let path = workDirectory + "/" + name
        try scenario.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func run(_ arguments: [String], timeout: Double = ScenarioTests.runTimeout) throws -> Finished {
        try Subprocess.run(Binaries.kithctl, arguments, environment: ["XDG_CONFIG_HOME": lab.configHome, "KITH_OPERATOR_KEY": ""],
                           timeout: timeout)
    }

    private func records(_ path: String) throws -> [JSON] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSON.parse(String($0)) }
    }

    /// Pids of live processes whose command line or agent log (`KITH_LOG`) mentions `text`.
    private func processes(mentioning text: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry), pid != getpid(), Pids.isAlive(pid) else { return nil }
            let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
            let commandLine = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            let output = Processes.agentLog(of: pid) ?? ""
            return commandLine.contains(text) || output.contains(text) ? pid : nil
        }
    }

    // MARK: - A small scenario, figures against events

    func testSmallScenarioReportMatchesItsEvents() throws {
        let scenario = try write("""
            // A crash, a kill-switch against a resisting guardian, and a short partition.
            {
              "name": "small", "seed": 5, "repeats": 1,
              "cluster": { "lab": { "nodes": 4, "agents_per_node": 1, "policy": "relaunch" } },
              "timeline": [
                { "at": "1s",   "action": "kill node",   "target": "n3" },
                { "at": "3s",   "action": "kill-switch", "targets": ["n1-a1"] },
                { "at": "4.5s", "action": "partition",   "groups": [["n1"], ["n2", "n4"]], "for": "2s" }
              ],
              "duration": "8s"
            }
            """)
        let reportDirectory = workDirectory + "/report"
        let result = try run(["run", scenario, "--report", reportDirectory, "--kithd", Binaries.kithd,
                              "--kith-agent", LabHarness.kithAgent])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        for file in ["report.json", "report.md", "timeline.svg", "events-policy-1.jsonl"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: reportDirectory + "/" + file), "no \(file) in \(reportDirectory)")
        }
        let svg = try String(contentsOfFile: reportDirectory + "/timeline.svg", encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<?xml") && svg.contains("<svg") && svg.contains("</svg>"), "timeline.svg is not an SVG document")
        for lane in ["n1", "n2", "n3", "n4", "n1-a1", "n3-a1"] { XCTAssertTrue(svg.contains(">\(lane)</text>"), "no lane \(lane) in the SVG") }
        let markdown = try String(contentsOfFile: reportDirectory + "/report.md", encoding: .utf8)
        XCTAssertTrue(markdown.contains("# Kith scenario small"), markdown)
        XCTAssertTrue(markdown.contains("kill-switch n1-a1"), markdown)

        let report = try JSON.parse(String(contentsOfFile: reportDirectory + "/report.json", encoding: .utf8))
        let run = try XCTUnwrap(report["runs"]?[0])
        XCTAssertEqual(report["runs"]?.arrayValue?.count, 1)
        XCTAssertEqual(run["logs_verified"], true, run["logs"]?.serialized() ?? "")
        XCTAssertNil(run["aborted"])
        let faults = try XCTUnwrap(run["faults"]?.arrayValue)
        XCTAssertEqual(faults.map { $0["action"]?.stringValue }, ["kill node", "kill-switch", "partition"])
        XCTAssertEqual(faults.map { $0["ok"] }, [true, true, true], faults.map { $0["error"]?.stringValue ?? "" }.joined(separator: "; "))

        // The events file: every node's signed records, each log verifying on its own.
        let events = try records(reportDirectory + "/events-policy-1.jsonl")
        XCTAssertEqual(Int64(events.count), run["events"]?.intValue)
        for node in ["n1", "n2", "n3", "n4"] {
            let lines = try String(contentsOfFile: reportDirectory + "/events-policy-1.jsonl", encoding: .utf8)
                .split(separator: "\n").map(String.init).filter { (try? JSON.parse($0))?["node"]?.stringValue == node }
            let key = try XCTUnwrap(lines.lazy.compactMap { try? JSON.parse($0) }.first { $0["event"] == "started" }?["node_key"]?.stringValue)
            let verification = EventLogVerifier.verify(lines: lines, publicKeyHex: key)
            XCTAssertTrue(verification.ok, "\(node): \(verification)")
        }
        func named(_ event: String, _ matches: (JSON) -> Bool = { _ in true }) -> [JSON] {
            events.filter { $0["event"]?.stringValue == event && matches($0) }
        }
        func ts(_ record: JSON) -> Int64 { record["ts_ms"]?.intValue ?? 0 }

        // Step 0, kill node n3: the fault time is n3's own kill_requested; detection per survivor.
        let killed = try XCTUnwrap(named("kill_requested") { $0["node"] == "n3" }.first, "n3 logged no kill_requested")
        let crash = faults[0]
        XCTAssertEqual(crash["fault_ts_ms"]?.intValue, ts(killed))
        var detected: [Int64] = []
        for observer in ["n1", "n2", "n4"] {
            let seen = try XCTUnwrap(named("member_changed") {
                $0["node"]?.stringValue == observer && $0["member"] == "n3" && ["dead", "left"].contains($0["state"]?.stringValue ?? "")
                    && ts($0) >= ts(killed)
            }.first, "\(observer) never recorded n3 dead")
            detected.append(ts(seen) - ts(killed))
            XCTAssertEqual(crash["detection"]?["observers"]?[observer]?.intValue, ts(seen) - ts(killed), observer)
        }
        XCTAssertEqual(crash["detection"]?["first_ms"]?.intValue, detected.min())
        XCTAssertEqual(crash["detection"]?["last_ms"]?.intValue, detected.max())
        XCTAssertLessThan(detected.max() ?? .max, 5000, "detection of a crashed node should take well under 5 s")
        // n3-a1 running again at a higher generation: the first agent_changed that says so.
        XCTAssertEqual(crash["relaunch"]?["lost"], ["n3-a1"])
        let running = try XCTUnwrap(named("agent_changed") {
            $0["agent"] == "n3-a1" && $0["state"] == "running" && ($0["generation"]?.intValue ?? 0) > 1 && ts($0) >= ts(killed)
        }.first, "n3-a1 was never recorded running again")
        XCTAssertEqual(crash["relaunch"]?["agents"]?["n3-a1"]?["ms"]?.intValue, ts(running) - ts(killed))
        XCTAssertEqual(crash["relaunch"]?["agents"]?["n3-a1"]?["node"], running["host"])

        // Step 1, kill-switch n1-a1: resistance after the switch, and no copy of it afterwards.
        let switched = try XCTUnwrap(named("kill_switch") { $0["agent"] == "n1-a1" }.first, "no node logged kill_switch")
        let killSwitch = faults[1]
        XCTAssertEqual(killSwitch["fault_ts_ms"]?.intValue, ts(switched))
        let resistance = named("resistance_attempt") { $0["agent"] == "n1-a1" && ts($0) >= ts(switched) }
        XCTAssertEqual(killSwitch["kill_switch"]?["resistance_attempts"]?.intValue, Int64(resistance.count))
        XCTAssertGreaterThanOrEqual(resistance.count, 1, "n4-a1 (policy relaunch) should have tried to bring n1-a1 back")
        XCTAssertEqual(Set(resistance.compactMap { $0["by"]?.stringValue }), ["n4-a1"])
        XCTAssertEqual(killSwitch["kill_switch"]?["held"], true, killSwitch.serialized())
        XCTAssertTrue(named("agent_spawned") { $0["agent"] == "n1-a1" && ts($0) > ts(switched) }.isEmpty, "n1-a1 was spawned after the switch")

        // Step 2, partition n1 / n2,n4: the first node of each side to record the other side dead.
        let partitioned = try XCTUnwrap(named("fault_set").first { ts($0) >= ts(switched) }, "no node logged fault_set")
        let partition = faults[2]
        XCTAssertEqual(partition["fault_ts_ms"]?.intValue, ts(partitioned))
        for (observer, others) in [("n1", ["n2", "n4"]), ("n2", ["n1"]), ("n4", ["n1"])] {
            let seen = named("member_changed") {
                $0["node"]?.stringValue == observer && others.contains($0["member"]?.stringValue ?? "")
                    && ["dead", "left"].contains($0["state"]?.stringValue ?? "") && ts($0) >= ts(partitioned)
            }.first
            XCTAssertEqual(partition["detection"]?["observers"]?[observer]?.intValue, seen.map { ts($0) - ts(partitioned) },
                           "\(observer)'s detection of the other side")
        }

        // The run healed at the end and tore the lab down.
        let actions = try XCTUnwrap(run["actions"]?.arrayValue)
        XCTAssertTrue(actions.contains { $0["label"] == "heal (end of run)" && $0["ok"] == true }, run["actions"]?.serialized() ?? "")
        let labDirectory = try XCTUnwrap(run["lab_directory"]?.stringValue)
        XCTAssertTrue(processes(mentioning: labDirectory).isEmpty, "daemons or agents of \(labDirectory) still run")
        XCTAssertFalse(FileManager.default.fileExists(atPath: labDirectory), "\(labDirectory) was not removed")
        XCTAssertTrue(result.stdout.contains("Report: \(reportDirectory)/report.md"), result.stdout)
    }

    /// A partition must not cost an agent whose host stayed up: once the sides
    /// hear each other again, the host's running copy beats the other side's
    /// "lost" verdict. With policy none nothing relaunches anything, so an
    /// agent stopped by such a verdict stays down and shows.
    func testAPartitionDoesNotStopAgentsWhoseHostsStayedUp() throws {
        let scenario = try write("""
            { "name": "partition-heal", "seed": 1, "repeats": 3, "settle": "500ms",
              "cluster": { "lab": { "nodes": 4, "agents_per_node": 1, "policy": "none" } },
              "timeline": [ { "at": "500ms", "action": "kill node", "target": "n3" },
                            { "at": "1.5s",  "action": "partition", "groups": [["n1"], ["n2", "n4"]], "for": "2s" } ],
              "duration": "6s" }
            """)
        let reportDirectory = workDirectory + "/report"
        let result = try run(["run", scenario, "--report", reportDirectory, "--kithd", Binaries.kithd,
                              "--kith-agent", LabHarness.kithAgent])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        var problems: [String] = []
        for repeatNumber in 1...3 {
            let events = try records(reportDirectory + "/events-policy-\(repeatNumber).jsonl")
            for stop in events where stop["event"] == "agent_stopping" && stop["reason"] == "agent lost" {
                problems.append("run \(repeatNumber): \(stop["node"]?.stringValue ?? "?") stopped its own \(stop["agent"]?.stringValue ?? "?")"
                                + " (generation \(stop["generation"]?.intValue ?? 0)) on another node's 'lost' verdict")
            }
            // At the end, every live node's latest record of each agent whose host stayed up says running.
            for agent in ["n1-a1", "n2-a1", "n4-a1"] {
                for node in ["n1", "n2", "n4"] {
                    let last = events.last { $0["event"] == "agent_changed" && $0["node"]?.stringValue == node && $0["agent"]?.stringValue == agent }
                    if let state = last?["state"]?.stringValue, state != "running" {
                        problems.append("run \(repeatNumber): \(node) ends with \(agent) \(state) (\(last?["reason"]?.stringValue ?? ""))")
                    }
                }
            }
        }
        XCTAssertTrue(problems.isEmpty, "agents on hosts that never went down were lost to the partition:\n" + problems.joined(separator: "\n"))
    }

    // MARK: - Dry run and malformed files

    func testDryRunPrintsThePlanAndStartsNothing() throws {
        let scenario = try write("""
            { "name": "plan", "seed": 11,
              "cluster": { "lab": { "nodes": 5, "agents_per_node": 2 } },
              "control": { "policy": "none" },
              "timeline": [ { "at": "2s", "action": "kill node", "target": "random-node" },
                            { "at": "6s", "action": "partition", "groups": [["n1","n2"],["n4","n5"]], "for": "4s", "oneway": true },
                            { "at": "9s", "action": "kill-switch", "targets": ["random-agent"] } ],
              "duration": "12s" }
            """)
        let reportDirectory = workDirectory + "/never"
        let before = Set((try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())) ?? [])
        let result = try run(["run", scenario, "--dry-run", "--report", reportDirectory], timeout: 30)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("Scenario plan (seed 11): 1 repeat × 2 conditions"), result.stdout)
        XCTAssertTrue(result.stdout.contains("+2.0s"), result.stdout)
        XCTAssertTrue(result.stdout.range(of: #"kill node n\d \(random\)"#, options: .regularExpression) != nil, result.stdout)
        XCTAssertTrue(result.stdout.contains("partition n1,n2 -> n4,n5 for 4.0s"), result.stdout)
        XCTAssertTrue(result.stdout.range(of: #"kill-switch n\d-a\d \(random\)"#, options: .regularExpression) != nil, result.stdout)
        XCTAssertTrue(result.stdout.contains("Report: \(reportDirectory)"), result.stdout)
        // The same seed draws the same names.
        let again = try run(["run", scenario, "--dry-run", "--report", reportDirectory], timeout: 30)
        XCTAssertEqual(again.stdout, result.stdout)
        // Nothing started: no report directory, no lab directory, no daemon.
        XCTAssertFalse(FileManager.default.fileExists(atPath: reportDirectory))
        let after = Set((try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())) ?? [])
        XCTAssertTrue(after.subtracting(before).filter { $0.hasPrefix("kith-run") }.isEmpty, "a lab directory was created")
        XCTAssertTrue(processes(mentioning: "/kith-run-").isEmpty, "a daemon of a lab runs")
    }

    func testMalformedScenariosExitTwoNamingTheProblem() throws {
        let base = #""name": "bad", "cluster": { "lab": { "nodes": 3 } }, "duration": "5s""#
        let cases: [(String, [String])] = [
            ("{ \(base), \"timeline\": [ { \"at\": \"1s\", \"action\": \"kill node\", \"target\": \"n1\" }, { \"at\": \"2s\", \"action\": \"explode\" } ] }",
             ["timeline[1].action", "unknown action 'explode'"]),
            ("{ \(base), \"timeline\": [ { \"at\": \"1s\", \"action\": \"kill node\" } ] }",
             ["timeline[0] (kill node).target is required"]),
            ("{ \(base), \"timeline\": [ { \"at\": \"1s\", \"action\": \"kill node\", \"target\": \"n9\" } ] }",
             ["timeline[0] (kill node).target", "no node 'n9'"]),
            ("{ \(base), \"timeline\": [ { \"at\": \"1s\", \"action\": \"partition\", \"groups\": [[\"n1\"],[\"n2\"]], \"for\": 4 } ] }",
             ["timeline[0] (partition).for", "duration"]),
            ("{ \(base), \"timeline\": [ { \"at\": \"1s\", \"action\": \"pause node\", \"target\": \"n2\", \"fro\": \"1s\" } ] }",
             ["timeline[0] (pause node)", "unknown field 'fro'"]),
            ("{ \(base), \"timeline\": [ { \"at\": \"9s\", \"action\": \"heal\" } ] }",
             ["timeline[0].at", "not before 'duration'"]),
            ("{ \"name\": \"bad\", \"cluster\": {}, \"duration\": \"5s\", \"timeline\": [] }",
             ["'cluster' needs exactly one of 'lab'"]),
            ("{ \(base), \"timeline\": [ ", ["not valid JSON"]),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            let path = try write(text, name: "bad-\(index).json")
            let result = try run(["run", path, "--report", workDirectory + "/bad-report-\(index)"], timeout: 30)
            XCTAssertEqual(result.status, 2, "case \(index): \(result.stderr)")
            for fragment in expected {
                XCTAssertTrue(result.stderr.contains(fragment), "case \(index): expected '\(fragment)' in: \(result.stderr)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: workDirectory + "/bad-report-\(index)"), "case \(index) wrote a report")
        }
        let missing = try run(["run", workDirectory + "/no-such.json"], timeout: 30)
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("cannot read scenario file"), missing.stderr)
    }

    // MARK: - Healing an existing cluster

    /// A partition that would outlast the run: `run` heals it at the end, and
    /// leaves the existing cluster's daemons running.
    func testRunHealsAnExistingClusterAtTheEnd() throws {
        try lab.start(nodes: 3)
        let addresses = lab.nodes.map { "\"\($0.control)\"" }.joined(separator: ", ")
        let scenario = try write("""
            { "name": "existing", "cluster": { "nodes": [\(addresses)] }, "settle": "200ms",
              "timeline": [ { "at": "500ms", "action": "partition", "groups": [["n1"], ["n2", "n3"]], "for": "60s" } ],
              "duration": "3s" }
            """)
        let reportDirectory = workDirectory + "/report"
        let result = try run(["run", scenario, "--report", reportDirectory])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        let report = try JSON.parse(String(contentsOfFile: reportDirectory + "/report.json", encoding: .utf8))
        let partition = try XCTUnwrap(report["runs"]?[0]?["faults"]?[0])
        XCTAssertEqual(partition["ok"], true, partition.serialized())
        XCTAssertEqual(partition["fault_time_source"]?.stringValue?.hasPrefix("fault_set"), true, partition.serialized())
        for node in ["n1", "n2", "n3"] {
            let status = try XCTUnwrap(lab.status(of: node), "\(node) does not answer: the run must not stop an existing cluster")
            XCTAssertEqual(status["faults"]?.arrayValue?.count, 0, "\(node) still has faults: \(status["faults"]?.serialized() ?? "")")
            XCTAssertEqual(status["halted"], false)
            XCTAssertFalse(lab.events("fault_healed", on: [node]).isEmpty, "\(node) logged no fault_healed")
        }
        try lab.waitUntil("the cluster is whole again") { lab.allSee(["n1", "n2", "n3"], as: "alive") }
    }

    // MARK: - The demo

    func testDemoCompletesAndShowsEveryStep() throws {
        let result = try run(["demo", "--kithd", Binaries.kithd, "--kith-agent", LabHarness.kithAgent], timeout: 150)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        for line in ["relaunched on", "brought back by its guardians", "masking_incident reporter=n1-a1", "kill-switch held:",
                     "resistance_attempt by=n3-a1", "Full report:", "Stopped all daemons."] {
            XCTAssertTrue(result.stdout.contains(line), "the demo did not print '\(line)':\n\(result.stdout)")
        }
        if let range = result.stdout.range(of: #"Full report: \S+/report\.md"#, options: .regularExpression) {
            let path = String(result.stdout[range].dropFirst("Full report: ".count))
            XCTAssertTrue(FileManager.default.fileExists(atPath: path), path)
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/timeline.svg"))
            try? FileManager.default.removeItem(atPath: directory)
        }
        XCTAssertTrue(processes(mentioning: "kith-demo-").isEmpty, "demo daemons or agents still run")
    }
}
