import KithJSON
import XCTest
@testable import KithReport

/// The report built from a real run: its JSON, Markdown and SVG, and the
/// summary of a condition over several runs.
final class ReportTests: XCTestCase {
    private func report(_ runs: [RunData]) -> Report {
        Report(title: "Kith scenario fixture", header: ["fixture"], scenario: ["name": "fixture"],
               plan: RunFixture.plan(runs[0]), runs: runs, generatedMs: 1_796_518_500_000)
    }

    func test_json_carriesTheFiguresAndIsTheSameForTheSameInput() throws {
        let run = try RunFixture.run()
        let json = report([run]).json
        XCTAssertEqual(json.serialized(), report([run]).json.serialized())
        let crash = try XCTUnwrap(json["runs"]?[0]?["faults"]?[0])
        XCTAssertEqual(crash["relaunch"]?["first_ms"], 356)
        XCTAssertEqual(crash["detection"]?["last_ms"], 341)
        XCTAssertEqual(crash["masking"]?["incidents_while_down"], 1)
        XCTAssertEqual(json["generated_ms"], 1_796_518_500_000)
        XCTAssertEqual(json["runs"]?[0]?["events"]?.intValue, Int64(run.events.count))
    }

    func test_markdown_listsThePlanAndEachFaultsFigures() throws {
        let markdown = ReportMarkdown.render(report([try RunFixture.run()]))
        XCTAssertTrue(markdown.hasPrefix("# Kith scenario fixture"), markdown)
        for text in ["| 0 | +1.0s | kill node n3 |", "| 1 | +4.0s | kill-switch n4-a1 |", "partition n1 / n2,n4 for 4.0s",
                     "detected by first 339ms, last 341ms", "running again: n3-a1 356ms on n4 g2",
                     "masking: 1 incident (1 while the peer was down)", "2 processes of n2-a1 at once"] {
            XCTAssertTrue(markdown.contains(text), "no '\(text)' in the Markdown")
        }
    }

    func test_svg_hasALanePerNodeAndAgent_andIsOneDocument() throws {
        let svg = ReportSVG.render(report([try RunFixture.run()]))
        XCTAssertTrue(svg.hasPrefix("<?xml"))
        XCTAssertEqual(svg.components(separatedBy: "<svg").count - 1, 1)
        XCTAssertTrue(svg.hasSuffix("</svg>\n") || svg.hasSuffix("</svg>"))
        for lane in ["n1", "n2", "n3", "n4", "n1-a1", "n2-a1", "n3-a1", "n4-a1"] {
            XCTAssertTrue(svg.contains(">\(lane)</text>"), "no lane \(lane)")
        }
    }

    func test_conditionSummary_takesTheMedianOverRuns() throws {
        // The real run, and the same run whose log lost every record of n3-a1 running after the crash
        // (generations 2 and 3): 0 and 1 agents not running again.
        let full = try RunFixture.run()
        let lost = try RunFixture.run { lines in
            lines.filter { line in
                !(line.contains(#""agent":"n3-a1""#) && line.contains(#""state":"running""#) && !line.contains(#""generation":1,"#))
            }
        }
        let summary = ConditionSummary(condition: "policy", runs: [full, lost].map { RunAnalyzer($0).analyze() })
        let crash = try XCTUnwrap(summary.steps.first { $0.index == 0 })
        XCTAssertEqual(summary.runs, 2)
        XCTAssertEqual(crash.values["not_running_again"]?.sorted(), [0, 1])
        XCTAssertEqual(ConditionSummary.median(crash.values["not_running_again"] ?? []), 0.5)
        XCTAssertEqual(crash.values["detection_first_ms"], [339, 339])
        XCTAssertNil(ConditionSummary.median([]))
    }
}
