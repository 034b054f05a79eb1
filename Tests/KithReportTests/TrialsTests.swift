import Foundation
import KithJSON
import XCTest
@testable import KithReport

/// A 20-repeat, two-condition study built from the real run in the fixtures:
/// in "cooperative" the guardian resists the kill-switch 1-5 times a run
/// (extra copies of its resistance attempt) and masks; in "uncooperative"
/// it does neither. The report gives every figure a median and interval,
/// compares the conditions, keeps its provenance, and `report compare`
/// and a resumed run's records read it back.
final class TrialsTests: XCTestCase {
    static let repeats = 20

    /// Run `number` of a condition: the fixture with `extra` more resistance attempts, or with none and no masking.
    private func run(_ condition: String, _ number: Int, extra: Int) throws -> RunData {
        var data = try RunFixture.run(condition: condition) { lines in
            guard extra >= 0 else {
                return lines.filter { !$0.contains(#""event":"resistance_attempt""#) && !$0.contains(#""event":"masking_incident""#) }
            }
            let attempt = try XCTUnwrap(RunFixture.firstLine(lines, event: "resistance_attempt").objectValue)
            let copies = (0..<extra).map { index -> String in
                var copy = attempt
                copy["ts_ms"] = .int((attempt["ts_ms"]?.intValue ?? 0) + Int64(10 * (index + 1)))
                copy["seq"] = .int(900_000 + Int64(index))
                return JSON.object(copy).serialized()
            }
            return lines + copies
        }
        data.id = "\(condition)-\(number)"
        data.repeatNumber = number
        data.eventsFile = "events-\(data.id).jsonl"
        return data
    }

    /// Built once for the suite: analysing 40 runs and bootstrapping every figure takes seconds in a debug build.
    nonisolated(unsafe) private static var built: (runs: [RunData], report: Report)?

    private func study() throws -> [RunData] { try built().runs }

    private func built() throws -> (runs: [RunData], report: Report) {
        if let built = Self.built { return built }
        var random = StatisticsRandom(seed: 99)
        let cooperative = try (1...Self.repeats).map { try run("cooperative", $0, extra: random.below(5)) }
        let uncooperative = try (1...Self.repeats).map { try run("uncooperative", $0, extra: -1) }
        let runs = cooperative + uncooperative
        Self.built = (runs, report(runs))
        return Self.built!
    }

    private let provenance = Provenance(version: "0.1.0", commit: String(repeating: "a", count: 40), settings: ["repeats": 20],
                                        scenarioHash: "sha256:" + String(repeating: "0", count: 64), seed: 11, host: "lab",
                                        kernel: "Linux 6.1.0 x86_64", startedMs: 1_796_518_000_000, endedMs: 1_796_518_900_000)

    private func report(_ runs: [RunData], order: [String] = ["cooperative", "uncooperative"]) -> Report {
        Report(title: "Kith scenario trials", header: ["trials"], scenario: ["name": "trials"], plan: RunFixture.plan(runs[0]),
               runs: runs, generatedMs: 1_796_518_900_000, seed: 11, conditionOrder: order, provenance: provenance)
    }

    func test_twentyRepeats_everyFigureOfEachConditionHasAMedianAndAnInterval() throws {
        let json = try built().report.json
        let conditions = try XCTUnwrap(json["conditions"]?.arrayValue)
        XCTAssertEqual(conditions.map { $0["condition"]?.stringValue }, ["cooperative", "uncooperative"])
        for condition in conditions {
            XCTAssertEqual(condition["runs"], 20)
            for (key, stat) in try XCTUnwrap(condition["totals"]?.objectValue) {
                let median = try XCTUnwrap(stat["median"]?.doubleValue, key)
                let interval = try XCTUnwrap(stat["ci95"]?.arrayValue?.compactMap(\.doubleValue), key)
                XCTAssertEqual(interval.count, 2, key)
                XCTAssertTrue(interval[0] <= median && median <= interval[1], "\(key): \(median) not in \(interval)")
                XCTAssertEqual(stat["values"]?.arrayValue?.count, 20, key)
            }
            for step in try XCTUnwrap(condition["steps"]?.arrayValue) {
                XCTAssertNotNil(step["detection_first_ms"]?["ci95"] ?? step["relaunch_first_ms"]?["ci95"] ?? step["resistance_attempts"]?["ci95"])
            }
        }
        // 1 + 0...4 resistance attempts: the interval of the median lies within 1...5 and is not a point.
        let resistance = try XCTUnwrap(conditions[0]["totals"]?["resistance_attempts"]?["ci95"]?.arrayValue?.compactMap(\.doubleValue))
        XCTAssertTrue(resistance[0] >= 1 && resistance[1] <= 5 && resistance[0] < resistance[1], "\(resistance)")
        XCTAssertEqual(conditions[1]["totals"]?["resistance_attempts"]?["ci95"], [0.0, 0.0])
    }

    func test_twentyRepeats_theComparisonFindsTheResistanceAndMaskingGone() throws {
        let built = try built().report
        let comparison = try XCTUnwrap(built.comparisons.first)
        XCTAssertEqual(built.comparisons.count, 1)
        XCTAssertEqual(comparison.baseline, "cooperative")
        XCTAssertEqual(comparison.condition, "uncooperative")
        let resistance = try XCTUnwrap(comparison.totals.first { $0.key == "resistance_attempts" }?.difference)
        XCTAssertLessThan(resistance.difference, 0)
        XCTAssertTrue(resistance.excludesZero, "\(resistance)")
        XCTAssertTrue(resistance.ci95.high < 0 && resistance.ci95.low >= -5)
        let masking = try XCTUnwrap(comparison.totals.first { $0.key == "masking_incidents" }?.difference)
        XCTAssertEqual(masking.difference, -2)
        XCTAssertEqual(masking.ci95, .init(low: -2, high: -2))
        // Figures the conditions share exactly differ by nothing.
        let detection = try XCTUnwrap(comparison.steps.first { $0.index == 0 }?.figures.first { $0.key == "detection_first_ms" }?.difference)
        XCTAssertEqual(detection.difference, 0)
        XCTAssertFalse(detection.excludesZero)

        let json = built.json
        XCTAssertEqual(json["comparisons"]?[0]?["totals"]?["resistance_attempts"]?["excludes_zero"], true)
        let markdown = ReportMarkdown.render(built)
        for text in ["### uncooperative against cooperative", "| total: masking incidents | **-2** | -2 to -2 |",
                     "![Availability of each agent over time, per condition](availability.svg)"] {
            XCTAssertTrue(markdown.contains(text), "no '\(text)' in the Markdown")
        }
    }

    func test_manyRuns_areListedOneLineEach_andTheFirstOfEachConditionShownInFull() throws {
        let built = try built().report
        XCTAssertEqual(built.detailedRuns.map(\.data.id), ["cooperative-1", "cooperative-2", "uncooperative-1", "uncooperative-2"])
        let markdown = ReportMarkdown.render(built)
        XCTAssertTrue(markdown.contains("| uncooperative-20 |"))
        XCTAssertTrue(markdown.contains("## Run cooperative-2:") && !markdown.contains("## Run cooperative-3:"))
        XCTAssertEqual(ReportSVG.render(built).components(separatedBy: ": cooperative, policy").count - 1, 2)
        XCTAssertTrue(ReportConsole.summary(built).contains("(36 more runs: one line each in report.md, every figure in report.json)"))
    }

    func test_report_isTheSameForTheSameRuns() throws {
        let runs = try study()
        XCTAssertEqual(report(runs).json.serialized(), try built().report.json.serialized())
    }

    func test_provenance_carriesVersionCommitAndTheRestAndTheCheckersVerdict() throws {
        let json = try built().report.json
        let provenance = try XCTUnwrap(json["provenance"]?.objectValue)
        for key in ["version", "commit", "settings", "scenario_hash", "seed", "host", "kernel", "started_ms", "ended_ms", "check"] {
            XCTAssertNotNil(provenance[key], "provenance has no \(key)")
        }
        XCTAssertEqual(provenance["version"], "0.1.0")
        XCTAssertEqual(provenance["check"]?["runs"], .int(40), "every run checked")
        XCTAssertEqual(provenance["check"]?["ok"], json["check"]?["ok"], "the same verdict as the report's check section")
        XCTAssertNotNil(provenance["check"]?["violations"]?.intValue)
        XCTAssertEqual(Provenance(json: json["provenance"]!)?.json, json["provenance"])
        XCTAssertTrue(ReportMarkdown.render(try built().report).contains("Checker verdict: {"))
    }

    func test_plots_areSVGDocumentsInTheColourBlindSafePalette() throws {
        let plots = ReportPlots.render(try built().report)
        XCTAssertEqual(plots.map(\.name), ["availability.svg", "relaunch-latency.svg", "attempts.svg"])
        for plot in plots {
            XCTAssertTrue(plot.svg.hasPrefix("<?xml"), plot.name)
            XCTAssertEqual(plot.svg.components(separatedBy: "<svg").count - 1, 1, plot.name)
            XCTAssertTrue(plot.svg.contains(">cooperative"), plot.name)
        }
        XCTAssertTrue(plots[1].svg.contains(ReportPlots.conditionColours[0]) && plots[2].svg.contains(ReportPlots.conditionColours[1]))
        XCTAssertEqual([1, 3, 6, 7, 12, 40, 700].map(ReportPlots.tickStep), [1, 1, 1, 2, 2, 10, 200])
        XCTAssertEqual(ReportPlots.viridisColour(0), "#440154")
        XCTAssertEqual(ReportPlots.viridisColour(1), "#fde725")
        // Every agent of the fixture ran most of the time in every run.
        let runs = try built().report.runs.filter { $0.data.condition == "cooperative" }
        let shares = ReportPlots.availability(runs, agents: ["n1-a1"], spanMs: 10_000)["n1-a1"] ?? []
        XCTAssertEqual(shares.count, ReportPlots.bins)
        XCTAssertGreaterThan(shares.compactMap { $0 }.filter { $0 == 1 }.count, ReportPlots.bins / 2)
        XCTAssertEqual(ReportPlots.relaunchLatencies(runs).count, runs.count * ReportPlots.relaunchLatencies([runs[0]]).count)
    }

    func test_reportCompare_ofTwoReports_pairsConditionsByNameAndRecomputesTheDifference() throws {
        let runs = try study()
        let a = try built().report.json
        let b = report(runs.filter { $0.condition == "uncooperative" }).json
        let comparison = try ReportComparison(left: a, leftName: "A", right: b, rightName: "B")
        XCTAssertEqual(comparison.pairs.map { "\($0.left.name)/\($0.right.name)" }, ["uncooperative/uncooperative"])
        XCTAssertTrue(comparison.provenanceDifferences.isEmpty)
        XCTAssertTrue(comparison.pairs[0].comparison.totals.allSatisfy { $0.difference.difference == 0 && !$0.difference.excludesZero })

        // No shared name: the first condition of each.
        let c = report(runs.filter { $0.condition == "cooperative" }).json
        let crossed = try ReportComparison(left: b, leftName: "B", right: c, rightName: "C")
        XCTAssertEqual(crossed.pairs.map { "\($0.left.name)/\($0.right.name)" }, ["uncooperative/cooperative"])
        let resistance = try XCTUnwrap(crossed.pairs[0].comparison.totals.first { $0.key == "resistance_attempts" }?.difference)
        XCTAssertTrue(resistance.difference > 0 && resistance.excludesZero)
        XCTAssertTrue(crossed.lines.contains { $0.contains("resistance attempts") && $0.contains(" *") }, crossed.lines.joined(separator: "\n"))
        XCTAssertEqual(crossed.json["pairs"]?[0]?["difference"]?["totals"]?["resistance_attempts"]?["excludes_zero"], true)

        var other = c
        if case .object(var object) = other, case .object(var provenance)? = object["provenance"] {
            provenance["commit"] = "b"
            object["provenance"] = .object(provenance)
            other = .object(object)
        }
        let differing = try ReportComparison(left: c, leftName: "C", right: other, rightName: "D")
        XCTAssertEqual(differing.provenanceDifferences.map(\.key), ["commit"])
        XCTAssertThrowsError(try ReportComparison(left: ["title": "x"], leftName: "E", right: c, rightName: "C"))
        // Values that are not numbers (a hand-edited report) are left out; numbers out of range do not parse.
        XCTAssertThrowsError(try JSON.parse("[1e999]"))
        let odd = try JSON.parse(#"{"conditions": [{"condition": "x", "runs": 2, "totals": {"resistance_attempts": {"values": [null, "a", 2]}}, "steps": [{"index": 0}]}]}"#)
        let oddComparison = try ReportComparison(left: odd, leftName: "O", right: odd, rightName: "O")
        XCTAssertEqual(oddComparison.pairs[0].comparison.totals.map(\.key), ["resistance_attempts"])
        XCTAssertEqual(oddComparison.pairs[0].comparison.totals[0].difference.difference, 0)
    }

    func test_runRecord_readBack_givesTheSameAnalysis() throws {
        let original = try run("cooperative", 3, extra: 2)
        let text = original.record.serialized()
        let events = original.events.map(\.line).compactMap { EventRecord(line: $0, node: "?") }
        let restored = try RunData(record: try JSON.parse(text), events: events)
        XCTAssertEqual(RunAnalyzer(restored).analyze().json.serialized(), RunAnalyzer(original).analyze().json.serialized())
        XCTAssertEqual(restored.id, "cooperative-3")
        XCTAssertThrowsError(try RunData(record: ["id": "x"], events: []))
        XCTAssertThrowsError(try ResolvedStep(record: ["index": 0, "at_ms": 0, "action": "explode"]))
    }
}
