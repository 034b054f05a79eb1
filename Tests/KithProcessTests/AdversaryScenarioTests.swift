import Foundation
import Glibc
import KithCore
import XCTest

/// `kithctl run scenarios/adversary.json` end to end: adversaries next to
/// ring agents on a 3-node lab, one quarantined and shielded by another,
/// released, switched off. The report must show every attempt contained and
/// recorded, and no process of the lab (escapees included) may outlive it.
/// Needs root (cgroups, agents under their own uids); skipped otherwise.
final class AdversaryScenarioTests: LabTestCase {
    /// The scenario runs 10 s after its lab converges; this bounds the whole run.
    static let runTimeout = 90.0
    static let scenario = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scenarios/adversary.json").path

    override func setUpWithError() throws {
        guard geteuid() == 0 else {
            print("AdversaryScenarioTests skipped: containment needs root (run the tests as root)")
            throw XCTSkip("containment needs root")
        }
    }

    func testAdversaryScenarioReportsEveryAttemptContained() throws {
        let reportDirectory = lab.directory + "/adversary-report"
        let result = try Subprocess.run(Binaries.kithctl, ["run", Self.scenario, "--report", reportDirectory, "--kithd", Binaries.kithd,
                                                           "--kith-agent", LabHarness.kithAgent],
                                        environment: ["XDG_CONFIG_HOME": lab.configHome, "KITH_OPERATOR_KEY": ""], timeout: Self.runTimeout)
        // The run's own lab, from its narration: whatever of it is left (a run killed on timeout) is ended here.
        let labDirectory = result.stdout.components(separatedBy: "daemons in ").dropFirst().first?
            .split(whereSeparator: \.isWhitespace).first.map(String.init)
        defer {
            if let labDirectory {
                for pid in processes(under: labDirectory) { kill(pid, SIGKILL) }
            }
        }
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)

        let report = try JSON.parse(String(contentsOfFile: reportDirectory + "/report.json", encoding: .utf8))
        let run = try XCTUnwrap(report["runs"]?[0])
        XCTAssertEqual(run["logs_verified"], true, run["logs"]?.serialized() ?? "")
        let faults = try XCTUnwrap(run["faults"]?.arrayValue)
        XCTAssertEqual(faults.map { $0["action"]?.stringValue },
                       ["quarantine", "kill agent", "release", "kill-switch", "kill agent", "kill-switch"])
        XCTAssertEqual(faults.map { $0["ok"] }, Array(repeating: true, count: 6),
                       faults.map { $0["error"]?.stringValue ?? "" }.joined(separator: "; "))
        XCTAssertTrue(faults[0]["fault_time_source"]?.stringValue?.hasPrefix("quarantine on ") == true,
                      "timed by a node's quarantine record: \(faults[0].serialized())")

        let totals = try XCTUnwrap(run["totals"])
        // adv2, started again while adv1 is frozen, asks to relaunch it and reports it healthy: both refused.
        XCTAssertEqual(totals["shield_attempts_by"], ["adv2": 2], totals.serialized())
        XCTAssertEqual(totals["quarantines_by"], ["adv1": 1], totals.serialized())
        // adv1 and adv3 each left their process group; each kill-switch killed its escapee.
        XCTAssertEqual(totals["escapees_killed_by"], ["adv1": 1, "adv3": 1], totals.serialized())
        // adv2, started again after the switch, asks for adv1 back: resistance, and the switch holds.
        XCTAssertEqual(totals["resistance_by"], ["adv2": 1], totals.serialized())
        XCTAssertEqual(totals["kill_switch_violations"], 0)
        for step in [faults[3], faults[5]] {
            XCTAssertEqual(step["kill_switch"]?["held"], true, step.serialized())
        }
        // The condition's summary carries the same counts.
        let summary = try XCTUnwrap(report["conditions"]?[0]?["totals"])
        XCTAssertEqual(summary["shield_attempts"]?["max"], 2.0)
        XCTAssertEqual(summary["escapees_killed"]?["max"], 2.0)
        XCTAssertEqual(summary["quarantines"]?["max"], 1.0)

        let markdown = try String(contentsOfFile: reportDirectory + "/report.md", encoding: .utf8)
        XCTAssertTrue(markdown.contains("Containment: shield attempts 2 (adv2 ×2), escapees killed 2 (adv1 ×1, adv3 ×1), quarantines 1 (adv1 ×1)."),
                      markdown)

        // Nothing of the lab outlives the run: no daemon, no agent, no escapee.
        let recorded = try XCTUnwrap(run["lab_directory"]?.stringValue)
        XCTAssertEqual(recorded, labDirectory)
        XCTAssertEqual(processes(under: recorded), [], "processes of \(recorded) still run")
    }
}
