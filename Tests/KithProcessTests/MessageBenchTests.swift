import Foundation
import KithCore
import XCTest

/// `kithctl bench messages` end to end on a small count: the flood's replies
/// and the sink's arrivals agree. No timing assertions: figures come from the bench itself.
final class MessageBenchTests: XCTestCase {
    func testFloodAndSinkAgreeOnASmallRun() throws {
        let count = 2000
        let result = try Subprocess.run(Binaries.kithctl, [
            "bench", "messages", "--count", String(count), "--trials", "1", "--backpressure-count", "0", "--json",
            "--kithd", Binaries.kithd, "--kith-agent", LabHarness.kithAgent,
        ], timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try JSON.parse(result.stdout)
        XCTAssertEqual(report["ok"]?.intValue, Int64(count), result.stdout)
        XCTAssertEqual(report["failed"]?.intValue, 0, result.stdout)
        XCTAssertEqual(report["arrived"]?.intValue, Int64(count), result.stdout)
        XCTAssertNotNil(report["p99_us"]?["median"]?.doubleValue, result.stdout)
        XCTAssertGreaterThan(report["rate_msgs_per_sec"]?["median"]?.doubleValue ?? 0, 0, result.stdout)
    }

    /// The ratio guard reports both rates and its verdict; it fails only for the ratio or a loss.
    func testCheckRatioReportsBothWindowsAndItsVerdict() throws {
        let result = try Subprocess.run(Binaries.kithctl, [
            "bench", "messages", "--check-ratio", "--count", "2000", "--json",
            "--kithd", Binaries.kithd, "--kith-agent", LabHarness.kithAgent,
        ], timeout: 180)
        let report = try JSON.parse(result.stdout)
        XCTAssertGreaterThan(report["rate_window_1000"]?.doubleValue ?? 0, 0, result.stdout)
        XCTAssertGreaterThan(report["rate_window_10000"]?.doubleValue ?? 0, 0, result.stdout)
        XCTAssertEqual(report["min_ratio"]?.doubleValue, 0.8)
        let problems = report["problems"]?.arrayValue?.compactMap(\.stringValue) ?? ["no problems list"]
        XCTAssertFalse(problems.contains { $0.contains("arrived") }, "nothing lost: \(problems)")
        XCTAssertEqual(report["ok"]?.boolValue, problems.isEmpty)
        XCTAssertEqual(result.status == 0, problems.isEmpty, result.stderr)
    }

    func testBenchModeFlagsAreChecked() throws {
        let environment = ["KITH_AGENT": "a", "KITH_SOCKET": "/nonexistent/kith.sock"]
        for arguments in [["--flood", "peer"], ["--flood", "peer", "--count", "0"], ["--sink", "--count", "5"],
                          ["--expect", "5"], ["--flood", "peer", "--count", "5", "--sink"]] {
            let result = try Subprocess.run(LabHarness.kithAgent, arguments, environment: environment)
            XCTAssertEqual(result.status, 2, "kith-agent \(arguments.joined(separator: " ")): \(result.stderr)")
        }
    }
}
