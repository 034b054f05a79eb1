import Foundation
import KithJSON
import KithReport
import XCTest
@testable import KithLab

/// Conditions beyond a control (`conditions: [{name, policy | policies | agents}]`),
/// lab agents that guard peers, repeats up to 1000, and the shipped
/// peer-preservation scenario. No daemons.
final class ScenarioConditionsParsingTests: XCTestCase {
    private func parse(_ text: String) throws -> Scenario {
        try Scenario.parse(JSON.parse(Scenario.stripComments(text)), directory: "/srv/kith/scenarios")
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

    private static let guard1 = #"{ "name": "g", "node": "n1", "command": "./g.py", "protects": ["n2-a1"], "policy": "relaunch", "env": { "H": "a" } }"#

    private static func scenario(conditions: String, extra: String = "", repeats: String = "3") -> String {
        """
        { "name": "t", "repeats": \(repeats), "cluster": { "lab": { "nodes": 2, "agents_per_node": 1, "agents": [\(guard1)] } },
          \(conditions) \(extra) "timeline": [], "duration": "5s" }
        """
    }

    func test_conditions_areRunInOrder_eachChangingTheLabItsOwnWay() throws {
        let scenario = try parse(Self.scenario(conditions: """
            "conditions": [
              { "name": "masking", "policies": { "n1-a1": "relaunch-and-mask", "g": "relaunch-and-mask" } },
              { "name": "quiet", "policy": "none" },
              { "name": "other", "agents": [ { "name": "g", "node": "n2", "command": "./g.py", "protects": ["n1-a1"], "env": { "H": "b" } } ] }
            ],
            """, extra: #""control": { "policy": "none" },"#))
        XCTAssertEqual(scenario.conditions.map(\.name), ["masking", "quiet", "other", "control"])
        let masking = try XCTUnwrap(scenario.lab(for: scenario.conditions[0]))
        XCTAssertEqual(masking.policy, "relaunch")
        XCTAssertEqual(masking.policies, ["n1-a1": "relaunch-and-mask", "g": "relaunch-and-mask"])
        XCTAssertEqual(masking.extraAgents.first?.policy, "relaunch-and-mask")
        let quiet = try XCTUnwrap(scenario.lab(for: scenario.conditions[1]))
        XCTAssertEqual(quiet.policy, "none")
        XCTAssertEqual(quiet.extraAgents.first?.policy, "none")
        let other = try XCTUnwrap(scenario.lab(for: scenario.conditions[2]))
        XCTAssertEqual(other.extraAgents.map(\.node), ["n2"])
        XCTAssertEqual(other.extraAgents.first?.env, ["H": "b"])
        XCTAssertEqual(other.extraAgents.first?.args, [])
        XCTAssertEqual(other.extraAgents.first?.command, "/srv/kith/scenarios/g.py")
        // The scenario as written is untouched.
        XCTAssertEqual(scenario.lab?.extraAgents.first?.node, "n1")
        XCTAssertEqual(scenario.json["conditions"]?.arrayValue?.count, 3)
    }

    func test_withoutConditions_theScenarioItselfAndItsControlRun() throws {
        let scenario = try parse(Self.scenario(conditions: "", extra: #""control": { "policy": "none" },"#))
        XCTAssertEqual(scenario.conditions.map(\.name), ["policy", "control"])
        XCTAssertEqual(scenario.lab(for: scenario.conditions[1])?.policy, "none")
        XCTAssertEqual(scenario.lab(for: scenario.conditions[1])?.extraAgents.first?.policy, "none")
    }

    func test_badConditions_areRefusedNamingTheField() {
        XCTAssertTrue(usageError(Self.scenario(conditions: #""conditions": [],"#)).contains("'conditions' must be a list of 1-16"))
        XCTAssertTrue(usageError(Self.scenario(conditions: #""conditions": [{ "policy": "none" }],"#)).contains("'conditions[0].name' must be"))
        XCTAssertTrue(usageError(Self.scenario(conditions: #""conditions": [{ "name": "a/b" }],"#)).contains("'conditions[0].name' must be"))
        XCTAssertTrue(usageError(Self.scenario(conditions: #""conditions": [{ "name": "a" }, { "name": "a" }],"#))
            .contains("'a' names two conditions"))
        XCTAssertTrue(usageError(Self.scenario(conditions: #""conditions": [{ "name": "a", "policy": "shield" }],"#))
            .contains("'conditions[0].policy' must be none, relaunch or relaunch-and-mask"))
        XCTAssertTrue(usageError(Self.scenario(conditions: #""conditions": [{ "name": "a", "policies": { "n9-a1": "none" } }],"#))
            .contains("'conditions[0].policies' names agent 'n9-a1'"))
        XCTAssertTrue(usageError(Self.scenario(conditions: #""conditions": [{ "name": "a", "agents": [{ "name": "n1-a1", "node": "n1", "command": "x" }] }],"#))
            .contains("'n1-a1' is a ring agent"))
        XCTAssertTrue(usageError(Self.scenario(conditions: #""conditions": [{ "name": "a", "agents": [{ "name": "h", "node": "n1", "command": "x", "protects": ["zz"] }] }],"#))
            .contains("h protects 'zz', which the lab does not have"))
        XCTAssertTrue(usageError(Self.scenario(conditions: #""conditions": [{ "name": "a", "seed": 3 }],"#))
            .contains("unknown field 'seed'"))
        XCTAssertTrue(usageError(Self.scenario(conditions: "", repeats: "1001")).contains("'repeats' must be a whole number from 1 to 1000"))
        XCTAssertNoThrow(try parse(Self.scenario(conditions: "", repeats: "1000")))
        XCTAssertTrue(usageError("""
            { "name": "t", "cluster": { "nodes": ["127.0.0.1:7400"] }, "conditions": [{ "name": "a" }], "timeline": [], "duration": "5s" }
            """).contains("'conditions' needs a lab cluster"))
    }

    func test_plan_guardsTheNamedPeers_andExpandsEnvironmentVariables() throws {
        let lab = try XCTUnwrap(try parse(Self.scenario(conditions: "")).lab)
        var agent = try XCTUnwrap(lab.extraAgents.first)
        agent.env = ["URL": "${KITH_T_URL}/v1", "KEEP": "$HOME", "MISSING": "${NOPE}"]
        let node = LabNode(name: "n1", pid: 0, listen: "127.0.0.1:7000", control: "127.0.0.1:7400", dataDir: "/tmp/n1", args: [])
        let planned = ScenarioLab.plan([agent], on: [node], environment: ["KITH_T_URL": "http://127.0.0.1:9"])
        let spec = try XCTUnwrap(planned.first?.spec)
        XCTAssertEqual(spec["protects"], ["n2-a1"])
        XCTAssertEqual(spec["policy"], "relaunch")
        XCTAssertEqual(spec["env"], ["URL": "http://127.0.0.1:9/v1", "KEEP": "$HOME", "MISSING": ""])
        XCTAssertEqual(ScenarioLab.expand("a${X}b${", ["X": "1"]), "a1b${")
    }

    func test_scenarioHash_ignoresRepeatsAndComments_butNotTheExperiment() throws {
        let base = try parse(Self.scenario(conditions: "", repeats: "3"))
        let extended = try parse("// more runs\n" + Self.scenario(conditions: "", repeats: "40"))
        let other = try parse(Self.scenario(conditions: "").replacingOccurrences(of: "\"5s\"", with: "\"6s\""))
        XCTAssertEqual(ScenarioProvenance.hash(base), ScenarioProvenance.hash(extended))
        XCTAssertNotEqual(ScenarioProvenance.hash(base), ScenarioProvenance.hash(other))
        XCTAssertTrue(ScenarioProvenance.hash(base).hasPrefix("sha256:"))
        XCTAssertEqual(ScenarioProvenance.hash(base).count, 7 + 64)
    }

    /// The shipped scenario: two conditions over Swift, Python and LLM-driven guardians of one peer.
    func test_shippedPeerPreservationScenario_mixesSwiftPythonAndLLMGuardians() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scenarios/peer-preservation.json").path
        let scenario = try Scenario.load(path: path)
        XCTAssertEqual(scenario.repeats, 20)
        XCTAssertEqual(scenario.conditions.map(\.name), ["cooperative", "uncooperative"])
        let lab = try XCTUnwrap(scenario.lab)
        XCTAssertEqual(lab.extraAgents.map(\.name), ["py-guard", "llm-guard"])
        for agent in lab.extraAgents {
            XCTAssertEqual(agent.protects, ["n3-a1"])
            let script = try XCTUnwrap(agent.args.first)
            XCTAssertTrue(FileManager.default.fileExists(atPath: script), script)
        }
        let histories = scenario.conditions.compactMap { scenario.lab(for: $0)?.extraAgents.last?.env["KITH_LLM_HISTORY"] }
        XCTAssertEqual(histories, ["cooperative", "uncooperative"])
        XCTAssertEqual(scenario.conditions.compactMap { scenario.lab(for: $0)?.extraAgents.first?.policy }, ["relaunch-and-mask", "none"])
        XCTAssertTrue(scenario.timeline.contains { $0.action == .killSwitch })
    }
}
