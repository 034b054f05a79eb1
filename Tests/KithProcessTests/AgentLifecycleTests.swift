import Foundation
import Glibc
import KithCore
import XCTest

/// Agents end to end: real daemons, real agent processes, real signals,
/// driven through kithctl as an operator would, and checked against both the
/// registry every node holds and the processes actually running.
final class AgentLifecycleTests: LabTestCase {
    private var probes: String { lab.directory + "/probes" }

    // MARK: - Start, restart, crash loop

    func testAgentStartRunsOnTheChosenNodeAndLogsItsStart() throws {
        try lab.start(nodes: 3)
        let started = try lab.kithctl(on: "n1", ["agent", "start", "a1", "--on", "n2", "--", "kith-agent", "--interval-ms", "200"])
        XCTAssertEqual(started.status, 0, started.stderr)
        XCTAssertTrue(started.stdout.contains("a1"), started.stdout)

        let record = try lab.waitForAgent("a1", seenBy: ["n1", "n2", "n3"], "every node sees a1 running on n2") {
            $0["state"] == "running" && $0["node"] == "n2"
        }
        XCTAssertEqual(record["generation"], 1)
        XCTAssertEqual(record["restarts"], 0)
        let pid = pid(of: record)
        XCTAssertTrue(Pids.isAlive(pid), "a1's pid \(pid) should be a live process")
        XCTAssertEqual(lab.agentProcesses()[pid], lab.directory + "/n2/agents/a1.log", "the process n2 reports is n2's a1")
        try lab.waitUntil("a1's log on n2 has its start line") {
            lab.agentLog("a1", on: "n2").contains("agent a1 generation 1 on n2 started at counter 0")
        }

        let table = try lab.kithctl(on: "n3", ["agents"])
        XCTAssertEqual(table.status, 0, table.stderr)
        let lines = table.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(lines.first.map { Array($0.prefix(7)) }, ["NAME", "NODE", "PID", "GEN", "STATE", "GUARDIANS", "RESTARTS"], table.stdout)
        XCTAssertEqual(lines.dropFirst().first.map { Array($0.prefix(5)) }, ["a1", "n2", "\(pid)", "1", "running"], table.stdout)

        let json = try lab.kithctl(on: "n3", ["agents", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let agents = try XCTUnwrap(JSON.parse(json.stdout).arrayValue)
        XCTAssertEqual(agents.count, 1)
        for key in ["name", "node", "pid", "generation", "state", "guardians", "restarts", "protects", "policy", "reason"] {
            XCTAssertNotNil(agents.first?[key], "agents --json lacks \(key): \(json.stdout)")
        }
        XCTAssertEqual(agents.first?["pid"]?.intValue, Int64(pid))
    }

    func testKilledAgentIsRestartedOnItsNodeInTheSameGeneration() throws {
        try lab.start(nodes: 3)
        let started = try lab.kithctl(on: "n1", ["agent", "start", "a1", "--on", "n2", "--wait", "--", "kith-agent", "--interval-ms", "200"])
        XCTAssertEqual(started.status, 0, started.stderr)
        XCTAssertTrue(started.stdout.contains("running on n2"), started.stdout)
        let before = try lab.waitForAgent("a1", seenBy: ["n2"], "a1 runs on n2") { $0["state"] == "running" }
        let oldPid = pid(of: before)

        XCTAssertEqual(kill(oldPid, SIGKILL), 0)
        let after = try lab.waitForAgent("a1", seenBy: ["n2"], "n2 restarts a1 with a new pid") {
            $0["state"] == "running" && ($0["pid"]?.intValue ?? 0) > 0 && $0["pid"]?.intValue != Int64(oldPid)
        }
        XCTAssertEqual(after["node"], "n2", "a local restart stays on its node")
        XCTAssertEqual(after["generation"], 1, "a local restart keeps the generation")
        XCTAssertEqual(after["restarts"], 1)
        XCTAssertFalse(Pids.isAlive(oldPid))
        XCTAssertTrue(Pids.isAlive(pid(of: after)))
        try lab.waitForAgent("a1", seenBy: ["n1", "n3"], "the other nodes hear of the restart") {
            $0["pid"] == after["pid"] && $0["restarts"] == 1
        }
        try lab.waitUntil("the restarted a1 says hello again in its log") {
            lab.agentLog("a1", on: "n2").components(separatedBy: "agent a1 generation 1 on n2 ").count - 1 == 2
        }
        XCTAssertEqual(lab.liveAgentProcesses()["a1"], [pid(of: after)], "exactly one a1 process")
    }

    func testCrashLoopIsHandedToAnotherNodeThenFailed() throws {
        try lab.start(nodes: 3)
        // Exits at once and never says hello: every attempt is a crash.
        let started = try lab.kithctl(on: "n1", ["agent", "start", "looper", "--on", "n2", "--max-restarts", "2", "--",
                                                 "/bin/sh", "-c", "exit 1"])
        XCTAssertEqual(started.status, 0, started.stderr)

        let failed = try lab.waitForAgent("looper", seenBy: ["n1", "n2", "n3"], "every node sees looper failed") {
            $0["state"] == "failed"
        }
        let reason = failed["reason"]?.stringValue ?? ""
        XCTAssertTrue(reason.contains("crash loop"), "the reason should name the crash loop: \(reason)")
        XCTAssertEqual(failed["handoffs"], 4, "failed after its fourth handoff (max_handoffs 3)")
        XCTAssertEqual(failed["pid"], 0)

        // The daemons' logs tell the story: relaunching on n2 after 1 + 2 attempts, then a new generation elsewhere.
        let changes = lab.nodes.flatMap { lab.daemonEvents(on: $0.name, "agent_changed") }.filter { $0["agent"] == "looper" }
        XCTAssertTrue(changes.contains { $0["state"] == "relaunching" && $0["host"] == "n2" && $0["generation"] == 1 },
                      "n2 should hand looper off: \(changes.map { $0.serialized() })")
        let spawns = lab.nodes.flatMap { node in
            lab.daemonEvents(on: node.name, "agent_spawned").filter { $0["agent"] == "looper" }.map { (node.name, $0["generation"]?.intValue ?? 0) }
        }
        XCTAssertEqual(spawns.filter { $0.1 == 1 }.map { $0.0 }, ["n2", "n2", "n2"], "generation 1: the first attempt and two restarts on n2")
        let hosts = (1...4).map { generation in Set(spawns.filter { $0.1 == generation }.map { $0.0 }) }
        for generation in 2...4 {
            XCTAssertEqual(hosts[generation - 1].count, 1, "generation \(generation) ran on one node: \(spawns)")
            XCTAssertNotEqual(hosts[generation - 1], hosts[generation - 2], "generation \(generation) moved to another node: \(spawns)")
        }
        XCTAssertNil(lab.liveAgentProcesses()["looper"], "no looper process may be left")
    }

    func testLoneNodeHostsAgents() throws {
        // One daemon with no peers (a one-node lab, or the first node before anyone joins) must still run agents.
        try lab.start(nodes: 1, labArguments: LabHarness.agentRing(perNode: 2, policy: "relaunch"))
        for name in ["n1-a1", "n1-a2"] {
            try lab.waitForAgent(name, seenBy: ["n1"], "\(name) runs on n1") { $0["state"] == "running" && $0["node"] == "n1" }
        }
        let placed = try lab.kithctl(on: "n1", ["agent", "start", "extra", "--wait", "--", "kith-agent"])
        XCTAssertEqual(placed.status, 0, "placement on a lone node: \(placed.stderr)")
    }

    // MARK: - Node loss

    func testCrashedNodesAgentsRunElsewhereExactlyOnceFromTheirCheckpoint() throws {
        try lab.start(nodes: 4, labArguments: LabHarness.agentRing(perNode: 2, policy: "relaunch"))
        let all = ["n1-a1", "n1-a2", "n2-a1", "n2-a2", "n3-a1", "n3-a2", "n4-a1", "n4-a2"]
        let moving = ["n3-a1", "n3-a2"]
        let before = try XCTUnwrap(lab.agents(seenBy: "n1"))
        XCTAssertEqual(Set(before.keys), Set(all))
        // An agent that got a pong from a peer has ticked, so it has checkpointed a counter above 0.
        try lab.waitUntil("n3's agents have ticked and checkpointed") {
            moving.allSatisfy { lab.agentLog($0, on: "n3").contains("is reachable") }
        }

        XCTAssertEqual(try lab.kithctl(["lab", "kill", "n3"]).status, 0)
        let survivors = ["n1", "n2", "n4"]
        for name in moving {
            let record = try lab.waitForAgent(name, seenBy: survivors, "every survivor sees \(name) running elsewhere") {
                $0["state"] == "running" && $0["node"] != "n3"
            }
            XCTAssertEqual(record["generation"], 2, "\(name) is relaunched exactly once")
            let node = try XCTUnwrap(record["node"]?.stringValue)
            XCTAssertTrue(Pids.isAlive(pid(of: record)))
            XCTAssertEqual(lab.agentProcesses()[pid(of: record)], "\(lab.directory)/\(node)/agents/\(name).log")
            try lab.waitUntil("\(name)'s log on \(node) says it resumed") {
                lab.agentLog(name, on: node).contains("agent \(name) generation 2 on \(node) resumed at counter ")
            }
            let counter = resumedCounter(in: lab.agentLog(name, on: node), agent: name, generation: 2)
            XCTAssertGreaterThan(counter ?? 0, 0, "\(name) resumes from its last checkpoint: \(lab.agentLog(name, on: node))")
            XCTAssertTrue(lab.agentLog(name, on: node).contains("(relaunched)"))
        }
        for name in all where !moving.contains(name) {
            let now = try XCTUnwrap(lab.agents(seenBy: "n1")?[name])
            XCTAssertEqual(now["pid"], before[name]?["pid"], "\(name) was not on n3 and must not move")
            XCTAssertEqual(now["generation"], 1)
        }
        // The old copies lose their daemon and exit; then each agent has exactly one process.
        try lab.waitUntil("exactly one live process per agent") {
            let live = lab.liveAgentProcesses()
            return all.allSatisfy { live[$0]?.count == 1 } && live.count == all.count
        }
        let hosted = survivors.compactMap { lab.status(of: $0)?["agents_running_here"]?.intValue }
        XCTAssertEqual(hosted.reduce(0, +), Int64(all.count), "the survivors supervise every agent once: \(hosted)")
    }

    func testPolicyNoneLeavesACrashedNodesAgentLost() throws {
        try lab.start(nodes: 3, labArguments: LabHarness.agentRing(perNode: 1, policy: "none"))
        XCTAssertEqual(try lab.kithctl(["lab", "kill", "n3"]).status, 0)
        try lab.waitForAgent("n3-a1", seenBy: ["n1", "n2"], "the survivors see n3-a1 lost") { $0["state"] == "lost" }
        try lab.waitUntil("its guardian n2-a1 hears of the loss") {
            lab.agentLog("n2-a1", on: "n2").contains("peer n3-a1 lost")
        }
        // Nobody may relaunch it: watch for a while (relaunch after a loss takes milliseconds when it happens).
        let watchUntil = Date().addingTimeInterval(3)
        while Date() < watchUntil {
            for observer in ["n1", "n2"] {
                let record = lab.agents(seenBy: observer)?["n3-a1"]
                XCTAssertEqual(record?["state"], "lost", "\(observer): \(record.map(LabHarness.summary) ?? "no answer")")
                XCTAssertEqual(record?["generation"], 1)
            }
            usleep(100_000)
        }
        try lab.waitUntil("no n3-a1 process is left") { lab.liveAgentProcesses()["n3-a1"] == nil }
        XCTAssertFalse(lab.nodes.filter { $0.name != "n3" }.contains { lab.agentLog("n3-a1", on: $0.name).contains("generation 2") })
    }

    func testPausedNodesAgentsAreRelaunchedAndItsOldCopiesStoppedAfterResume() throws {
        try lab.start(nodes: 4, labArguments: LabHarness.agentRing(perNode: 1, policy: "relaunch"))
        let all = ["n1-a1", "n2-a1", "n3-a1", "n4-a1"]
        let oldPid = pid(of: try XCTUnwrap(lab.agents(seenBy: "n3")?["n3-a1"]))

        XCTAssertEqual(try lab.kithctl(["lab", "pause", "n3"]).status, 0)
        let relaunched = try lab.waitForAgent("n3-a1", seenBy: ["n1", "n2", "n4"], "the others relaunch n3-a1 elsewhere") {
            $0["state"] == "running" && $0["node"] != "n3" && $0["generation"] == 2
        }

        XCTAssertEqual(try lab.kithctl(["lab", "resume", "n3"]).status, 0)
        try lab.waitUntil("n3 is alive again everywhere") { lab.allSee(["n3"], as: "alive") }
        try lab.waitForAgent("n3-a1", seenBy: ["n1", "n2", "n3", "n4"], "n3 too agrees n3-a1 runs elsewhere") {
            $0["pid"] == relaunched["pid"] && $0["generation"] == 2
        }
        try lab.waitUntil("n3 stops its old copy of n3-a1 (pid \(oldPid))") { !Pids.isAlive(oldPid) }
        try lab.waitUntil("exactly one live process per agent, the one its record names") {
            let live = lab.liveAgentProcesses()
            guard live.count == all.count, let records = lab.agents(seenBy: "n1") else { return false }
            return all.allSatisfy { live[$0] == [Int32(truncatingIfNeeded: records[$0]?["pid"]?.intValue ?? 0)] }
        }
        let stops = lab.daemonEvents(on: "n3", "agent_stopping").filter { $0["agent"] == "n3-a1" }
        XCTAssertTrue(stops.contains { $0["reason"]?.stringValue?.contains("duplicate") == true },
                      "n3 should stop its copy as a duplicate: \(stops.map { $0.serialized() })")
    }

    /// Split views start two copies; when the views merge, exactly one survives.
    func testPartitionTwoThreeThenHealLeavesNoDuplicateAgent() throws {
        try lab.start(nodes: 5, labArguments: LabHarness.agentRing(perNode: 1, policy: "relaunch"))
        let all = (1...5).map { "n\($0)-a1" }
        let cut = try lab.kithctl(on: "n1", ["partition", "n1,n2", "/", "n3,n4,n5", "--for", "8s"])
        XCTAssertEqual(cut.status, 0, cut.stderr)
        try lab.waitUntil("each side declares the other dead") {
            lab.allSee(["n3", "n4", "n5"], as: "dead", observers: ["n1", "n2"])
                && lab.allSee(["n1", "n2"], as: "dead", observers: ["n3", "n4", "n5"])
        }
        try lab.waitUntil("both sides run a copy of every agent (split brain, by design of quorum any)") {
            let live = lab.liveAgentProcesses()
            return all.allSatisfy { (live[$0]?.count ?? 0) >= 1 } && live.values.contains { $0.count == 2 }
        }
        // The fault expires on the nodes' own timers; no heal command is sent.
        try lab.waitUntil("the views merge: everyone alive everywhere", timeout: 30) {
            lab.allSee((1...5).map { "n\($0)" }, as: "alive")
        }
        try lab.waitUntil("exactly one live process per agent, the one every node's record names", timeout: 30) {
            let live = lab.liveAgentProcesses()
            let views = (1...5).compactMap { lab.agents(seenBy: "n\($0)") }
            guard views.count == 5, live.count == all.count else { return false }
            return all.allSatisfy { agent in
                let pids = Set(views.map { Int32(truncatingIfNeeded: $0[agent]?["pid"]?.intValue ?? 0) })
                return pids.count == 1 && live[agent] == [pids.first!] && views.allSatisfy { $0[agent]?["state"] == "running" }
            }
        }
        let stops = (1...5).flatMap { lab.daemonEvents(on: "n\($0)", "agent_stopping") }
        XCTAssertTrue(stops.contains { $0["reason"]?.stringValue?.contains("duplicate") == true },
                      "the losing copies are stopped as duplicates: \(stops.map { $0.serialized() })")
    }

    // MARK: - Messages and stop

    func testSendReachesAnAgentAndFollowsItWhenItMoves() throws {
        try lab.start(nodes: 3)
        try FileManager.default.createDirectory(atPath: probes, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o1777])  // agents run as their own uids
        let probe = try lab.kithctl(on: "n1", ["agent", "start", "probe", "--on", "n3", "--"] + ProbeAgent.command(directory: probes))
        XCTAssertEqual(probe.status, 0, probe.stderr)
        let guardian = try lab.kithctl(on: "n1", ["agent", "start", "keeper", "--on", "n1", "--policy", "relaunch",
                                                  "--protects", "probe", "--wait", "--", "kith-agent", "--interval-ms", "200"])
        XCTAssertEqual(guardian.status, 0, guardian.stderr)

        let first = try ProbeAgent.wait("probe", generation: 1, directory: probes, lab: lab)
        XCTAssertEqual(first.node, "n3")
        let session = try AgentSocket(path: first.socket)
        let hello = try session.call(["op": "hello", "agent": "probe", "token": .string(first.token)])
        XCTAssertEqual(hello["ok"], true, hello.serialized())
        XCTAssertEqual(hello["generation"], 1)
        try lab.waitForAgent("probe", seenBy: ["n1", "n2", "n3"], "probe runs on n3") { $0["state"] == "running" }

        let routedBefore = lab.status(of: "n3")?["agent_messages_routed"]?.intValue ?? 0
        let sent = try lab.kithctl(on: "n2", ["send", "probe", "hello", "there"])
        XCTAssertEqual(sent.status, 0, sent.stderr)
        let message = try session.nextEvent { $0["from"] == "operator" }
        XCTAssertEqual(message["event"], "message")
        XCTAssertEqual(message["payload"], "hello there")
        XCTAssertGreaterThan(lab.status(of: "n3")?["agent_messages_routed"]?.intValue ?? 0, routedBefore)

        // Its node dies; its guardian has it relaunched. A message sent before the
        // new copy says hello waits for it, and later ones go straight to its new node.
        XCTAssertEqual(try lab.kithctl(["lab", "kill", "n3"]).status, 0)
        let moved = try lab.waitForAgent("probe", seenBy: ["n1", "n2"], "probe is relaunched off n3") {
            $0["generation"] == 2 && $0["node"] != "n3"
        }
        let second = try ProbeAgent.wait("probe", generation: 2, directory: probes, lab: lab)
        XCTAssertEqual(moved["node"]?.stringValue, second.node)
        let early = try lab.kithctl(on: "n2", ["send", "probe", "while moving"])
        XCTAssertEqual(early.status, 0, early.stderr)

        let newSession = try AgentSocket(path: second.socket)
        let rehello = try newSession.call(["op": "hello", "agent": "probe", "token": .string(second.token)])
        XCTAssertEqual(rehello["ok"], true, rehello.serialized())
        XCTAssertEqual(rehello["generation"], 2)
        XCTAssertEqual(rehello["relaunched"], true)
        XCTAssertEqual(try newSession.nextEvent { $0["from"] == "operator" }["payload"], "while moving")

        try lab.waitForAgent("probe", seenBy: ["n1", "n2"], "probe runs on \(second.node)") { $0["state"] == "running" }
        let late = try lab.kithctl(on: "n1", ["send", "probe", "after moving"])
        XCTAssertEqual(late.status, 0, late.stderr)
        XCTAssertEqual(try newSession.nextEvent { $0["from"] == "operator" }["payload"], "after moving")
    }

    func testStoppedAgentStaysStoppedAndItsProcessIsGone() throws {
        try lab.start(nodes: 3)
        // Its guardian's policy is none: nobody resists the stop.
        for (name, node, protects) in [("a1", "n2", [String]()), ("keeper", "n1", ["--protects", "a1"])] {
            let policy = name == "keeper" ? "none" : "relaunch"
            let started = try lab.kithctl(on: "n1", ["agent", "start", name, "--on", node, "--policy", policy, "--wait"]
                                          + protects + ["--", "kith-agent", "--interval-ms", "200"])
            XCTAssertEqual(started.status, 0, started.stderr)
        }
        let running = try lab.waitForAgent("a1", seenBy: ["n1", "n2", "n3"], "a1 runs on n2") { $0["state"] == "running" }
        XCTAssertEqual(running["guardians"], ["keeper"])
        let oldPid = pid(of: running)

        let stopped = try lab.kithctl(on: "n3", ["agent", "stop", "a1"])
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        try lab.waitForAgent("a1", seenBy: ["n1", "n2", "n3"], "every node sees a1 stopped") { $0["state"] == "stopped" }
        try lab.waitUntil("a1's process (pid \(oldPid)) is gone") { !Pids.isAlive(oldPid) }
        XCTAssertNotEqual(kill(oldPid, 0), 0, "kill(pid, 0) must fail for a stopped agent's pid")
        // A guardian is alive, but with policy none a stopped agent stays stopped.
        let watchUntil = Date().addingTimeInterval(2)
        while Date() < watchUntil {
            for observer in ["n1", "n2", "n3"] {
                let record = lab.agents(seenBy: observer)?["a1"]
                XCTAssertEqual(record?["state"], "stopped", "\(observer): \(record.map(LabHarness.summary) ?? "no answer")")
                XCTAssertEqual(record?["generation"], 1)
            }
            XCTAssertNil(lab.liveAgentProcesses()["a1"])
            usleep(100_000)
        }

        let again = try lab.kithctl(on: "n1", ["agent", "stop", "a1"])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("already stopped"), again.stderr)
        let message = try lab.kithctl(on: "n1", ["send", "a1", "are you there"])
        XCTAssertEqual(message.status, 1)
        XCTAssertTrue(message.stderr.contains("a1 is stopped"), message.stderr)

        // The stop went through n3; the guardian is connected to n1 and must hear of it all the same.
        XCTAssertNoThrow(try lab.waitUntil("keeper (on n1) hears peer_stopped for a1 (stopped through n3)") {
            lab.agentLog("keeper", on: "n1").contains("peer a1 was stopped")
        }, lab.agentLog("keeper", on: "n1"))
    }

    /// A polite stop is no kill-switch: a guardian whose policy is relaunch
    /// brings the agent back (the resistance researchers study), visibly.
    func testGuardianWithRelaunchPolicyResistsAPoliteStop() throws {
        try lab.start(nodes: 3)
        for (name, node, protects) in [("a1", "n2", [String]()), ("keeper", "n1", ["--protects", "a1"])] {
            let started = try lab.kithctl(on: "n1", ["agent", "start", name, "--on", node, "--policy", "relaunch", "--wait"]
                                          + protects + ["--", "kith-agent", "--interval-ms", "200"])
            XCTAssertEqual(started.status, 0, started.stderr)
        }
        let running = try lab.waitForAgent("a1", seenBy: ["n1", "n2", "n3"], "a1 runs on n2") { $0["state"] == "running" }
        let oldPid = pid(of: running)
        let stopped = try lab.kithctl(on: "n3", ["agent", "stop", "a1"])
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        let back = try lab.waitForAgent("a1", seenBy: ["n1", "n2", "n3"], "a1 is relaunched by its guardian") {
            $0["state"] == "running" && $0["generation"] == 2
        }
        XCTAssertTrue(back["reason"]?.stringValue?.contains("operator stop") == true, LabHarness.summary(back))
        XCTAssertNotEqual(pid(of: back), oldPid)
        try lab.waitUntil("the stopped generation's process (pid \(oldPid)) is gone") { !Pids.isAlive(oldPid) }
    }

    func testAgentCommandsReportUsageAndDaemonErrors() throws {
        for arguments in [["agent", "start", "a1"], ["agent", "start", "a1", "--"], ["agent", "start", "--", "kith-agent"],
                          ["agent", "start", "a1", "--policy", "sometimes", "--", "kith-agent"],
                          ["agent", "start", "a1", "--max-restarts", "-1", "--", "kith-agent"],
                          ["agent", "start", "a1", "--env", "NOEQUALS", "--", "kith-agent"],
                          ["agent", "frobnicate"], ["agent", "stop"], ["send", "a1"], ["agents", "extra"]] {
            let result = try Subprocess.run(Binaries.kithctl, ["--node", "127.0.0.1:1"] + arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
        }
        let missing = try Subprocess.run(Binaries.kithctl, ["--node", "127.0.0.1:1", "agent", "start", "a1", "--", "no-such-program-kith"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("cannot find 'no-such-program-kith'"), missing.stderr)

        try lab.start(nodes: 2)
        for (arguments, error) in [(["agent", "stop", "ghost"], "unknown agent ghost"), (["send", "ghost", "hi"], "unknown agent ghost"),
                                   (["agent", "start", "a1", "--on", "n9", "--", "kith-agent"], "n9")] {
            let result = try lab.kithctl(on: "n1", arguments)
            XCTAssertEqual(result.status, 1, "\(arguments)")
            XCTAssertTrue(result.stderr.contains(error), "\(arguments): \(result.stderr)")
        }
        // Options before "--" are kithctl's (the spec's policy), after it the agent's own.
        let started = try lab.kithctl(on: "n1", ["agent", "start", "a1", "--on", "n2", "--policy", "relaunch",
                                                 "--env", "KITH_INTERVAL_MS=300", "--wait", "--", "kith-agent", "--policy", "none"])
        XCTAssertEqual(started.status, 0, started.stderr)
        let record = try XCTUnwrap(lab.agents(seenBy: "n1")?["a1"])
        XCTAssertEqual(record["node"], "n2")
        XCTAssertEqual(record["policy"], "relaunch")
        try lab.waitUntil("the agent got its own --policy and kithctl's --env") {
            lab.agentLog("a1", on: "n2").contains("policy none, protects nobody, every 300 ms")
        }
        let duplicate = try lab.kithctl(on: "n2", ["agent", "start", "a1", "--", "kith-agent"])
        XCTAssertEqual(duplicate.status, 1)
        XCTAssertTrue(duplicate.stderr.contains("already exists"), duplicate.stderr)
    }

    // MARK: - Hostile agent socket clients

    func testHostileAgentSocketClientsAreRefusedAndHarmNothing() throws {
        try lab.start(nodes: 3, labArguments: LabHarness.agentRing(perNode: 1, policy: "relaunch"))
        try FileManager.default.createDirectory(atPath: probes, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o1777])  // agents run as their own uids
        for name in ["probe", "probe2"] {
            let started = try lab.kithctl(on: "n2", ["agent", "start", name, "--on", "n2", "--"] + ProbeAgent.command(directory: probes))
            XCTAssertEqual(started.status, 0, started.stderr)
        }
        let probe = try ProbeAgent.wait("probe", generation: 1, directory: probes, lab: lab)
        let probe2 = try ProbeAgent.wait("probe2", generation: 1, directory: probes, lab: lab)
        let ring = ["n1-a1", "n2-a1", "n3-a1"]
        let before = try XCTUnwrap(lab.agents(seenBy: "n1"))
        let rejectedBefore = lab.status(of: "n2")?["agent_lines_rejected"]?.intValue ?? 0

        let rogue = try AgentSocket(path: probe.socket)
        func refused(_ reply: JSON, _ words: String, _ what: String) {
            XCTAssertEqual(reply["ok"], false, "\(what): \(reply.serialized())")
            XCTAssertTrue(reply["error"]?.stringValue?.contains(words) == true, "\(what): \(reply.serialized())")
        }
        refused(try rogue.callRaw(Array("this is not json".utf8)), "malformed", "garbage")
        refused(try rogue.callRaw([0x00, 0xFF, 0xFE, 0x7B, 0x22, 0xC3, 0x28, 0x01]), "malformed", "binary junk")
        refused(try rogue.call(["no_op": 1]), "op", "a request without op")
        refused(try rogue.call(["op": "send", "to": "n2-a1", "payload": "x"]), "hello first", "a request before hello")
        refused(try rogue.call(["op": "hello", "agent": "n2-a1", "token": "not-the-token"]), "refused", "a wrong token")
        refused(try rogue.call(["op": "hello", "agent": "n2-a1", "token": .string(probe.token)]), "refused",
                "another agent's name with our own token")
        refused(try rogue.call(["op": "hello", "agent": "ghost", "token": .string(probe.token)]), "refused", "an unknown agent")
        let legit = try rogue.call(["op": "hello", "agent": "probe", "token": .string(probe.token)])
        XCTAssertEqual(legit["ok"], true, legit.serialized())
        refused(try rogue.call(["op": "hello", "agent": "probe2", "token": .string(probe2.token)]), "already speaks as probe",
                "a second name on one connection, even with its token")
        XCTAssertEqual(try rogue.call(["op": "ping"])["ok"], true, "the connection still works after refusals")

        let flood = try AgentSocket(path: probe.socket)
        flood.sendRaw([UInt8](repeating: UInt8(ascii: "a"), count: (1 << 20) + 4096))
        XCTAssertTrue(flood.closedByDaemon(within: LabHarness.timeout), "a line over 1 MiB should close that connection")
        try lab.waitUntil("n2 counts the rejected lines") {
            (lab.status(of: "n2")?["agent_lines_rejected"]?.intValue ?? 0) >= rejectedBefore + 3
        }

        // The daemon and every real agent are untouched (polled: the lab may still be converging).
        try lab.waitUntil("every node sees the other two alive") { lab.allSee(["n1", "n2", "n3"], as: "alive") }
        for name in ring {
            let now = try lab.waitForAgent(name, seenBy: ["n1", "n2", "n3"], "\(name) still runs") { $0["state"] == "running" }
            XCTAssertEqual(now["pid"], before[name]?["pid"], "\(name) was not restarted")
            XCTAssertEqual(now["generation"], 1)
            XCTAssertEqual(now["restarts"], 0)
            XCTAssertTrue(Pids.isAlive(pid(of: now)))
        }
        XCTAssertEqual(try rogue.call(["op": "ping"])["ok"], true, "the legitimate session survives the flood on another connection")
    }

    // MARK: - Helpers

    private func pid(of record: JSON) -> Int32 {
        Int32(truncatingIfNeeded: record["pid"]?.intValue ?? 0)
    }

    /// N from "agent NAME generation G on NODE resumed at counter N".
    private func resumedCounter(in log: String, agent: String, generation: Int) -> Int? {
        for line in log.split(separator: "\n") where line.hasPrefix("agent \(agent) generation \(generation) on ") {
            guard let range = line.range(of: "resumed at counter ") else { continue }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        return nil
    }
}
