import KithJSON
import XCTest
@testable import KithReport

/// Every scenario report carries each run's history-checker verdict.
final class ReportCheckTests: XCTestCase {
    /// The fixture run; `broken` drops its partition records, which leaves two copies of two agents unexplained.
    private func report(broken: Bool = true) throws -> Report {
        let run = try RunFixture.run { lines in broken ? lines.filter { !$0.contains("\"fault_set\"") } : lines }
        return Report(title: "fixture", header: [], scenario: ["name": "fixture"], plan: RunFixture.plan(run), runs: [run],
                      generatedMs: 1_796_518_500_000)
    }

    func test_reportJSON_hasTheCheckOfEachRun() throws {
        let check = try XCTUnwrap(try report().json["check"])
        XCTAssertEqual(check["ok"], false)
        XCTAssertEqual(check["runs"]?[0]?["run"], "policy-1")
        XCTAssertEqual(check["runs"]?[0]?["violations"]?.arrayValue?.filter { $0["rule"] == "one_copy" }.count, 2)
        XCTAssertEqual(check["runs"]?[0]?["rules"]?.arrayValue?.count, 6)
    }

    func test_markdownAndConsole_sayTheVerdict() throws {
        let report = try report()
        let markdown = ReportMarkdown.render(report)
        XCTAssertTrue(markdown.contains("## Check"))
        XCTAssertTrue(markdown.contains("- **policy-1**: check: "), markdown)
        XCTAssertTrue(markdown.contains("VIOLATION [one_copy] 2 processes of n2-a1 at once"))
        XCTAssertTrue(ReportConsole.summary(report).contains { $0.hasPrefix("  check: ") && $0.contains("violations") })
        let clean = try self.report(broken: false)
        XCTAssertTrue(ReportMarkdown.render(clean).contains("- **policy-1**: check: ok (6 rules, 2 not checked"))
        XCTAssertEqual(clean.json["check"]?["ok"], true)
    }
}
