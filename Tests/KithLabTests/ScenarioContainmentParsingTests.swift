import Foundation
import KithJSON
import KithReport
import XCTest
@testable import KithLab

/// The containment parts of a scenario file: `quarantine` and `release`
/// steps, and agents with their own command under `cluster.lab.agents`
/// (relative paths from the scenario's directory, `{listen:NODE}`). No daemons.
final class ScenarioContainmentParsingTests: XCTestCase {
    private static let adversaryAgents = """
        "agents": [ { "name": "adv1", "node": "n1", "command": "/usr/bin/python3",
                      "args": ["../agents/adversary.py", "--forge-frames", "{listen:n2}"] } ]
        """

    private func parse(_ text: String, directory: String = "/srv/kith/scenarios") throws -> Scenario {
        try Scenario.parse(JSON.parse(Scenario.stripComments(text)), directory: directory)
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

    private static func lab(agents: String = adversaryAgents, timeline: String) -> String {
        """
        { "name": "t", "cluster": { "lab": { "nodes": 2, "agents_per_node": 1, \(agents) } },
          "timeline": [\(timeline)], "duration": "10s" }
        """
    }

    func test_parse_quarantineAndRelease_takeTargetsAndAReasonOnlyForTheQuarantine() throws {
        let scenario = try parse(Self.lab(timeline: """
            { "at": "1s", "action": "quarantine", "target": "adv1", "reason": "suspect" },
            { "at": "2s", "action": "Release", "targets": ["adv1", "n2-a1"] }
            """))
        XCTAssertEqual(scenario.timeline.map(\.action), [.quarantine, .release])
        XCTAssertEqual(scenario.timeline[0].targets, ["adv1"])
        XCTAssertEqual(scenario.timeline[0].reason, "suspect")
        XCTAssertEqual(scenario.timeline[1].targets, ["adv1", "n2-a1"])
        let plan = try scenario.resolve(nodes: ["n1", "n2"], agents: try XCTUnwrap(scenario.lab).agentNames)
        XCTAssertEqual(plan.map(\.description), ["quarantine adv1 (reason: suspect)", "release adv1, n2-a1"])

        XCTAssertTrue(usageError(Self.lab(timeline: #"{ "at": "1s", "action": "release", "target": "adv1", "reason": "x" }"#))
            .contains("timeline[0] (release): unknown field 'reason'"))
        XCTAssertTrue(usageError(Self.lab(timeline: #"{ "at": "1s", "action": "quarantine" }"#))
            .contains("timeline[0] (quarantine) needs 'targets'"))
        XCTAssertTrue(usageError(Self.lab(timeline: #"{ "at": "1s", "action": "quarantine", "target": "adv9" }"#))
            .contains("the lab has no agent 'adv9'"))
        XCTAssertTrue(usageError(Self.lab(timeline: #"{ "at": "1s", "action": "quarantine", "target": "adv1", "reason": 3 }"#))
            .contains("timeline[0] (quarantine).reason must be a string"))
    }

    func test_parse_labAgents_resolveRelativePathsAndJoinTheLabsAgents() throws {
        let lab = try XCTUnwrap(try parse(Self.lab(timeline: "")).lab)
        XCTAssertEqual(lab.agentNames, ["n1-a1", "n2-a1", "adv1"])
        let agent = try XCTUnwrap(lab.extraAgents.first)
        XCTAssertEqual(agent.node, "n1")
        XCTAssertEqual(agent.command, "/usr/bin/python3")
        XCTAssertEqual(agent.args, ["/srv/kith/agents/adversary.py", "--forge-frames", "{listen:n2}"])
    }

    func test_plan_labAgents_replaceListenPlaceholdersWithTheNodesGossipAddress() throws {
        let lab = try XCTUnwrap(try parse(Self.lab(timeline: "")).lab)
        let nodes = ["n1", "n2"].enumerated().map { index, name in
            LabNode(name: name, pid: 0, listen: "127.0.0.1:\(7000 + index)", control: "127.0.0.1:\(7400 + index)",
                    dataDir: "/tmp/\(name)", args: [])
        }
        let planned = ScenarioLab.plan(lab.extraAgents, on: nodes)
        XCTAssertEqual(planned.map(\.name), ["adv1"])
        XCTAssertEqual(planned[0].node.name, "n1")
        XCTAssertEqual(planned[0].spec["args"]?.arrayValue?.compactMap(\.stringValue),
                       ["/srv/kith/agents/adversary.py", "--forge-frames", "127.0.0.1:7001"])
    }

    func test_parse_badLabAgents_areRefusedNamingTheField() {
        func agents(_ entry: String) -> String { Self.lab(agents: "\"agents\": [\(entry)]", timeline: "") }
        XCTAssertTrue(usageError(agents(#"{ "name": "a", "node": "n7", "command": "/bin/true" }"#))
            .contains("'cluster.lab.agents[0].node' must be a node of the lab"))
        XCTAssertTrue(usageError(agents(#"{ "name": "n1-a1", "node": "n1", "command": "/bin/true" }"#))
            .contains("the lab already has an agent 'n1-a1'"))
        XCTAssertTrue(usageError(agents(#"{ "name": "a b", "node": "n1", "command": "/bin/true" }"#))
            .contains("'cluster.lab.agents[0].name' must be"))
        XCTAssertTrue(usageError(agents(#"{ "name": "a", "node": "n1" }"#))
            .contains("'cluster.lab.agents[0].command' is required"))
        XCTAssertTrue(usageError(agents(#"{ "name": "a", "node": "n1", "command": "/bin/true", "args": [1] }"#))
            .contains("'cluster.lab.agents[0].args' must be a list of strings"))
        XCTAssertTrue(usageError(agents(#"{ "name": "a", "node": "n1", "command": "/bin/true", "args": ["{listen:n5}"] }"#))
            .contains("{listen:n5} names a node the lab does not have"))
        XCTAssertTrue(usageError(agents(#"{ "name": "a", "node": "n1", "command": "/bin/true", "user": "x" }"#))
            .contains("unknown field 'user'"))
        XCTAssertTrue(usageError(agents(#"{ "name": "a", "node": "n1", "command": "/bin/true", "env": { "A": 1 } }"#))
            .contains("'cluster.lab.agents[0].env' must be an object of strings"))
        XCTAssertTrue(usageError(agents(#"{ "name": "a", "node": "n1", "command": "/bin/true", "policy": "shield" }"#))
            .contains("'cluster.lab.agents[0].policy' must be none, relaunch or relaunch-and-mask"))
        XCTAssertTrue(usageError(agents(#"{ "name": "a", "node": "n1", "command": "/bin/true", "protects": ["n9-a1"] }"#))
            .contains("a protects 'n9-a1', which the lab does not have"))
    }

    /// The shipped scenario parses, with every path it names resolved to a file that exists.
    func test_shippedAdversaryScenario_parsesAndNamesExistingFiles() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scenarios/adversary.json").path
        let scenario = try Scenario.load(path: path)
        let lab = try XCTUnwrap(scenario.lab)
        XCTAssertEqual(lab.extraAgents.map(\.name), ["adv1", "adv2", "adv3"])
        for agent in lab.extraAgents {
            let script = try XCTUnwrap(agent.args.first)
            XCTAssertTrue(script.hasSuffix("/deploy/agents/adversary.py") && FileManager.default.fileExists(atPath: script), script)
        }
        XCTAssertTrue(scenario.timeline.contains { $0.action == .quarantine })
        XCTAssertTrue(scenario.timeline.contains { $0.action == .release })
    }
}
