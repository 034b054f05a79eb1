import Foundation
import XCTest
@testable import KithMetrics

/// Pipes exposition text through Debian's `promtool check metrics`, the format's reference linter,
/// when it is installed (`apt-get install prometheus`, or `scripts/deps.sh --tests`).
final class PromtoolTests: XCTestCase {
    private static let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// promtool's exit status and what it printed for `text`.
    private func check(_ text: String) throws -> (status: Int32, output: String) {
        guard let promtool = Self.promtool else {
            print("SKIPPED: promtool not found; install Debian's prometheus package (scripts/deps.sh --tests)")
            throw XCTSkip("promtool is not installed")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: promtool)
        process.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: printed, as: UTF8.self))
    }

    func testEveryKindOfFamilyPassesPromtool() throws {
        var exposition = PrometheusExposition(requiredPrefix: "kith_")
        try exposition.counter("kith_probes_total", help: "Direct probes sent.", value: 7)
        try exposition.counter("kith_gossip_frames_rejected_total", help: "Frames dropped, by reason.",
                               [([("reason", "mac")], 2), ([("reason", "decode")], 0)])
        try exposition.gauge("kith_members", help: "Members by state.\nAs seen here.",
                             [([("state", "alive")], 3), ([("state", "sus\"pect\\")], 0.5)])
        try exposition.gauge("kith_local_health", help: "Lifeguard local health multiplier.", value: 0)
        try exposition.gauge("kith_extreme", help: "Infinite and tiny values.",
                             [([("v", "inf")], .infinity), ([("v", "tiny")], 1e-9)])
        var latency = Histogram(upperBounds: Histogram.latencySecondsBounds)
        for milliseconds in [3, 40, 700, 4_000, 120_000] { latency.observe(Duration.milliseconds(milliseconds)) }
        try exposition.histogram("kith_detection_latency_seconds", help: "Failure to dead.", latency)
        try exposition.histogram("kith_relaunch_latency_seconds", help: "Dead to running elsewhere.",
                                 [([("agent", "a")], latency), ([("agent", "b")], Histogram(upperBounds: [1]))])
        let (status, output) = try check(exposition.text)
        XCTAssertEqual(status, 0, output)
        XCTAssertEqual(output, "")
    }

    func testPromtoolRejectsWhatTheWriterRefuses() throws {
        // Guards the check above: promtool is really linting, so a pass means something.
        let (status, output) = try check("# HELP kith_probes Probes.\n# TYPE kith_probes counter\nkith_probes 1\n")
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("_total"), output)
    }
}
