import KithJSON
import XCTest
@testable import KithReport

/// Every scenario report carries each run's history-checker verdict.
final class ReportCheckTests: XCTestCase {
    private func report() throws -> Report {
        let run = try RunFixture.run()
        return Report(title: "fixture", header: [], scenario: ["name": "fixture"], plan: RunFixture.plan(run), runs: [run],
                      generatedMs: 1_796_518_500_000)
    }

    func test_reportJSON_hasTheCheckOfEachRun() throws {
        let check = try XCTUnwrap(try report().json["check"])
        // The fixture's partition left two copies of n2-a1 and of n3-a1.
        XCTAssertEqual(check["ok"], false)
        XCTAssertEqual(check["runs"]?[0]?["run"], "policy-1")
        XCTAssertEqual(check["runs"]?[0]?["violations"]?.arrayValue?.count, 2)
        XCTAssertEqual(check["runs"]?[0]?["rules"]?.arrayValue?.count, 6)
    }

    func test_markdownAndConsole_sayTheVerdict() throws {
        let report = try report()
        let markdown = ReportMarkdown.render(report)
        XCTAssertTrue(markdown.contains("## Check"))
        XCTAssertTrue(markdown.contains("- **policy-1**: check: 2 violations"), markdown)
        XCTAssertTrue(markdown.contains("VIOLATION [one_copy] 2 processes of n2-a1 at once"))
        XCTAssertTrue(ReportConsole.summary(report).contains { $0.hasPrefix("  check: 2 violations") })
    }
}
