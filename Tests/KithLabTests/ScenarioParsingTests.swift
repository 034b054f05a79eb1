import KithJSON
import KithReport
import XCTest
@testable import KithLab

/// Scenario files: strict parsing that names the step and field, and the
/// seeded resolution of random targets. No daemons.
final class ScenarioParsingTests: XCTestCase {
    private func parse(_ text: String) throws -> Scenario {
        try Scenario.parse(JSON.parse(Scenario.stripComments(text)))
    }

    private func usageError(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try parse(text)
            XCTFail("parsed a scenario that should be refused", file: file, line: line)
        } catch let error as UsageError {
            return error.message
        } catch {
            XCTFail("not a usage error: \(error)", file: file, line: line)
        }
        return ""
    }

    private static func lab(nodes: Int = 3, timeline: String, duration: String = "10s") -> String {
        """
        // a comment line, and one after a value
        { "name": "t", "seed": 9,
          "cluster": { "lab": { "nodes": \(nodes), "agents_per_node": 1, "policy": "relaunch" } }, // the lab
          "timeline": [\(timeline)],
          "duration": "\(duration)" }
        """
    }

    func test_parse_labScenario_readsEveryStepAndItsFields() throws {
        let scenario = try parse(Self.lab(timeline: """
            { "at": "1s", "action": "kill node", "target": "n3" },
            { "at": "2.5s", "action": "partition", "groups": [["n1"], ["n2", "n3"]], "for": "4s", "oneway": true }
            """))
        XCTAssertEqual(scenario.name, "t")
        XCTAssertEqual(scenario.seed, 9)
        XCTAssertEqual(scenario.lab?.agentNames, ["n1-a1", "n2-a1", "n3-a1"])
        XCTAssertEqual(scenario.durationMs, 10_000)
        XCTAssertEqual(scenario.timeline.map(\.action), [.killNode, .partition])
        XCTAssertEqual(scenario.timeline[1].atMs, 2500)
        XCTAssertEqual(scenario.timeline[1].groups, [["n1"], ["n2", "n3"]])
        XCTAssertEqual(scenario.timeline[1].forMs, 4000)
        XCTAssertTrue(scenario.timeline[1].oneway)
    }

    func test_parse_unknownAction_namesTheStep() {
        let message = usageError(Self.lab(timeline: """
            { "at": "1s", "action": "kill node", "target": "n1" }, { "at": "2s", "action": "explode" }
            """))
        XCTAssertTrue(message.contains("timeline[1]") && message.contains("unknown action 'explode'"), message)
    }

    func test_parse_stepAtOrAfterTheDuration_isRefused() {
        let message = usageError(Self.lab(timeline: #"{ "at": "12s", "action": "heal" }"#))
        XCTAssertTrue(message.contains("timeline[0].at") && message.contains("'duration'"), message)
    }

    func test_parse_unknownKey_isRefused() {
        let message = usageError(#"{ "name": "t", "cluster": { "nodes": ["127.0.0.1:7400"] }, "timeline": [], "duration": "1s", "bogus": 1 }"#)
        XCTAssertTrue(message.contains("bogus"), message)
    }

    func test_resolve_randomNode_neverPicksANodeAnEarlierStepTookDown() throws {
        for seed in 0..<50 {
            var scenario = try parse(Self.lab(timeline: """
                { "at": "1s", "action": "kill node", "target": "random-node" },
                { "at": "2s", "action": "shutdown node", "target": "random-node" },
                { "at": "3s", "action": "pause node", "target": "random-node", "for": "1s" }
                """))
            scenario.seed = UInt64(seed)
            let lab = try XCTUnwrap(scenario.lab)
            let plan = try scenario.resolve(nodes: lab.nodeNames, agents: lab.agentNames)
            let targets = plan.compactMap(\.target)
            XCTAssertEqual(Set(targets), ["n1", "n2", "n3"], "seed \(seed): \(targets)")
            XCTAssertEqual(plan.map(\.drawn), targets.map { [$0] }, "seed \(seed)")
            XCTAssertEqual(try scenario.resolve(nodes: lab.nodeNames, agents: lab.agentNames).compactMap(\.target), targets,
                           "seed \(seed): the same seed must draw the same names")
        }
    }

    func test_resolve_noNodeLeftToDraw_fails() throws {
        let scenario = try parse(Self.lab(nodes: 1, timeline: """
            { "at": "1s", "action": "kill node", "target": "n1" },
            { "at": "2s", "action": "kill node", "target": "random-node" }
            """))
        let lab = try XCTUnwrap(scenario.lab)
        XCTAssertThrowsError(try scenario.resolve(nodes: lab.nodeNames, agents: lab.agentNames)) { error in
            XCTAssertTrue("\(error)".contains("timeline[1]"), "\(error)")
        }
    }
}
