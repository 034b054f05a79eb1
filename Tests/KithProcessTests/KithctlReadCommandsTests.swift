import Foundation
import Glibc
import KithCore
import XCTest

/// The operator's read commands against a lab: `logs` across nodes and generations (and following a
/// relaunch), `faults` with time left, `events` filters, `--node` by member name, falling back to
/// another node when the default one is down, `--timeout`, `heal` that could not reach a frozen node,
/// and `dashboard`.
final class KithctlReadCommandsTests: LabTestCase {
    /// Processes a test started itself (a following kithctl); ended and reaped in tearDown.
    private var extraPids: [Int32] = []

    override func tearDown() {
        for pid in extraPids {
            kill(pid, SIGKILL)
            _ = Subprocess.waitForExit(pid, timeout: 5)
        }
        for node in lab.nodes { kill(node.pid, SIGCONT) }
        super.tearDown()
    }

    /// kithctl with this lab as the default one (`$KITH_LAB_DIR`), as an operator in its directory has it.
    private func kithctl(_ arguments: [String]) throws -> Finished {
        try lab.kithctl(arguments, environment: ["KITH_LAB_DIR": lab.directory])
    }

    private func host(of agent: String, seenBy observer: String) -> String? {
        guard let reply = try? lab.client(observer).request(["cmd": "agents"]) else { return nil }
        let record = reply["agents"]?.arrayValue?.first { $0["name"]?.stringValue == agent }
        return record?["state"] == "running" ? record?["node"]?.stringValue : nil
    }

    private func jsonLines(_ text: String) throws -> [JSON] {
        try text.split(separator: "\n").map { try JSON.parse(String($0)) }
    }

    func testLogsShowEachGenerationOnItsNodeWithItsStartAndFollowARelaunch() throws {
        try lab.start(nodes: 3, labArguments: ["--agents", "1", "--policy", "relaunch"])
        // n2 dies and comes back: its log keeps generation 1, another node runs generation 2.
        kill(lab.node("n2").pid, SIGKILL)
        var second = ""
        try lab.waitUntil("n2-a1 running again away from n2") {
            second = host(of: "n2-a1", seenBy: "n1") ?? ""
            return !second.isEmpty && second != "n2"
        }
        XCTAssertEqual(try kithctl(["lab", "start", "n2"]).status, 0)
        try lab.waitUntil("n2 back") { lab.allSee(["n2"], as: "alive") }

        let logs = try kithctl(["logs", "n2-a1", "--json"])
        XCTAssertEqual(logs.status, 0, logs.stderr)
        let lines = try jsonLines(logs.stdout)
        let generations = Set(lines.map { "\($0["node"]?.stringValue ?? "?")/\($0["generation"]?.intValue ?? 0)" })
        XCTAssertTrue(generations.contains("n2/1") && generations.contains("\(second)/2"), "\(generations)")
        XCTAssertTrue(lines.allSatisfy { ($0["started_ms"]?.intValue ?? 0) > 1_700_000_000_000 }, "every line has its generation's start time")
        let starts = lines.compactMap { $0["started_ms"]?.intValue }
        XCTAssertEqual(starts, starts.sorted(), "generations in the order they started")
        let text = try kithctl(["logs", "n2-a1"])
        XCTAssertTrue(text.stdout.contains("  n2  generation 1 started") && text.stdout.contains("  \(second)  generation 2 started"), text.stdout)
        XCTAssertTrue(text.stdout.contains("n2  g1  agent n2-a1"), "lines carry node and generation: \(text.stdout)")
        // --since after generation 2 started leaves out generation 1, which had ended by then.
        let recent = try jsonLines(try kithctl(["logs", "n2-a1", "--json", "--since", String((starts.last ?? 0) + 1)]).stdout)
        XCTAssertFalse(recent.contains { $0["generation"]?.intValue == 1 }, "\(recent)")
        XCTAssertEqual(try kithctl(["logs", "no-such-agent"]).status, 1, "an agent no node has a log of fails")
        XCTAssertEqual(try kithctl(["logs", "../../etc/passwd"]).status, 1, "a path is not an agent name")

        // Following: the host of generation 2 dies; generation 3 appears in the output as it starts.
        let output = lab.directory + "/follow.out"
        let follower = try Subprocess.spawn(Binaries.kithctl, ["logs", "n2-a1", "-f"],
                                            environment: ["XDG_CONFIG_HOME": lab.configHome, "KITH_LAB_DIR": lab.directory],
                                            stdout: output, stderr: lab.directory + "/follow.err")
        extraPids.append(follower)
        try lab.waitUntil("the follower printed what is there") {
            (try? String(contentsOfFile: output, encoding: .utf8))?.contains("generation 2 started") == true
        }
        kill(lab.node(second).pid, SIGKILL)
        try lab.waitUntil("generation 3 followed") {
            (try? String(contentsOfFile: output, encoding: .utf8))?.contains("generation 3 started") == true
        }
        kill(follower, SIGINT)
        XCTAssertEqual(Subprocess.waitForExit(follower, timeout: 5), 0, "Ctrl-C ends following")
        extraPids.removeAll()
    }

    func testFaultsShowTimeLeftAndHealFailsWhileANodeIsFrozen() throws {
        try lab.start(nodes: 3)
        XCTAssertEqual(try kithctl(["partition", "n1", "/", "n3", "--for", "30s"]).status, 0)
        let faults = try kithctl(["faults", "--json"])
        XCTAssertEqual(faults.status, 0, faults.stderr)
        let list = try XCTUnwrap(try JSON.parse(faults.stdout).arrayValue)
        XCTAssertEqual(list.compactMap { $0["node"]?.stringValue }.sorted(), ["n1", "n3"])
        XCTAssertTrue(list.allSatisfy { (1...30_000).contains($0["remaining_ms"]?.intValue ?? 0) }, "\(list)")
        XCTAssertTrue(try kithctl(["faults"]).stdout.contains("TIME LEFT"))

        kill(lab.node("n3").pid, SIGSTOP)
        let heal = try kithctl(["heal", "--timeout", "500ms"])
        XCTAssertEqual(heal.status, 1, "a heal that missed a frozen node fails: \(heal.stdout)")
        let rows = heal.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        XCTAssertEqual(rows.first, "NODE STATE RESULT DETAIL", heal.stdout)
        XCTAssertTrue(rows.contains { $0.hasPrefix("n1 alive ok healed") }, heal.stdout)
        XCTAssertTrue(rows.contains { $0.hasPrefix("n3 ") && $0.contains(" no answer ") }, heal.stdout)
        XCTAssertTrue(heal.stderr.contains("heal: no answer from n3"), heal.stderr)
        let unknown = try kithctl(["faults", "--timeout", "500ms"])
        XCTAssertEqual(unknown.status, 1, "faults of a frozen live node are unknown")
        XCTAssertTrue(unknown.stdout.contains("No active faults on the nodes that answered"), unknown.stdout)
        XCTAssertTrue(unknown.stderr.contains("n3: no answer"), unknown.stderr)
        kill(lab.node("n3").pid, SIGCONT)
        try lab.waitUntil("heal reaching every node") { (try? kithctl(["heal"]))?.status == 0 }
        XCTAssertEqual(try JSON.parse(try kithctl(["faults", "--json"]).stdout).arrayValue?.count, 0)
        XCTAssertEqual(try kithctl(["faults", "--timeout", "0"]).status, 2, "a zero timeout is bad usage")
    }

    func testEventFiltersMemberNamesFallbackAndDashboard() throws {
        try lab.start(nodes: 3, labArguments: ["--agents", "1"])
        let byNode = try jsonLines(try kithctl(["events", "--node", "n2", "--type", "member_changed,agent_spawned", "--json"]).stdout)
        XCTAssertFalse(byNode.isEmpty)
        XCTAssertTrue(byNode.allSatisfy { $0["node"] == "n2" && ["member_changed", "agent_spawned"].contains($0["event"]?.stringValue ?? "") },
                      "\(byNode)")
        let byAgent = try jsonLines(try kithctl(["events", "--agent", "n1-a1", "--json"]).stdout)
        XCTAssertFalse(byAgent.isEmpty)
        XCTAssertTrue(byAgent.allSatisfy { $0["agent"] == "n1-a1" || $0["peer"] == "n1-a1" || $0["by"] == "n1-a1" || $0["reporter"] == "n1-a1" },
                      "\(byAgent)")
        XCTAssertEqual(try kithctl(["events", "--node", "n9"]).status, 1, "an unknown node fails")
        let viaAddress = try kithctl(["events", "--node", lab.node("n2").control, "--limit", "1", "--json"])
        XCTAssertEqual(Set(try jsonLines(viaAddress.stdout).compactMap { $0["node"]?.stringValue }), ["n1", "n2", "n3"],
                       "--node HOST:PORT still names the node to ask, not a filter")

        // --node takes a member's name; without it, a read falls back to a node that answers.
        let n2 = try kithctl(["--node", "n2", "status", "--json"])
        XCTAssertEqual(try JSON.parse(n2.stdout)["name"], "n2", n2.stderr)
        // Outside a lab, the members a read listed are remembered for the next fallback.
        let noLab = ["KITH_LAB_DIR": lab.directory + "/no-lab", "KITH_NODE": lab.node("n1").control]
        XCTAssertEqual(try lab.kithctl(["members"], environment: noLab).status, 0)
        kill(lab.node("n1").pid, SIGKILL)
        _ = lab.waitForExit("n1", timeout: 5)
        let remembered = try lab.kithctl(["status", "--json"], environment: noLab)
        XCTAssertEqual(remembered.status, 0, "a remembered member answers: \(remembered.stderr)")
        XCTAssertNotEqual(try JSON.parse(remembered.stdout)["name"], "n1")
        let members = try kithctl(["members", "--json"])
        XCTAssertEqual(members.status, 0, "another node answers when the default one is down: \(members.stderr)")
        XCTAssertTrue(members.stderr.contains("answered"), "says that it asked another node: \(members.stderr)")
        XCTAssertEqual(try kithctl(["agents", "--json"]).status, 0)
        let explicit = try kithctl(["--node", lab.node("n1").control, "members"])
        XCTAssertEqual(explicit.status, 1, "an explicit --node is not replaced by another")

        let dashboard = try kithctl(["dashboard", "--lab", lab.directory])
        XCTAssertEqual(dashboard.status, 0, dashboard.stderr)
        let status = try JSON.parse(try kithctl(["lab", "status", "--json"]).stdout).arrayValue ?? []
        let n2HTTP = try XCTUnwrap(status.first { $0["name"] == "n2" }?["http"]?.stringValue)
        XCTAssertEqual(dashboard.stdout, "http://\(n2HTTP)/\n", "the first node still running serves the page")
        XCTAssertEqual(try kithctl(["dashboard", "--lab", lab.directory + "/nothing"]).status, 1)
    }
}
