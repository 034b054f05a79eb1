import Foundation
import Glibc
import KithCore
import KithNode
import XCTest

/// Containment against an agent that misbehaves on purpose
/// (`deploy/agents/adversary.py`): it escapes its process group, signals the
/// daemon and its peers, reads the node key, rewrites the tombstones, forks
/// and allocates without end. Each attempt must fail or be cut off, and the
/// fence (kill-switch, stop, shutdown) must leave no process and no cgroup.
/// Needs root (cgroups and uids); skipped with a message otherwise.
final class ContainmentTests: LabTestCase {
    static let adversary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy/agents/adversary.py").path

    override func setUpWithError() throws {
        guard geteuid() == 0 else {
            print("ContainmentTests skipped: cgroups and agent uids need root (run the tests as root)")
            throw XCTSkip("containment needs root")
        }
    }

    /// The escaped grandchild (own session, own process group) keeps writing
    /// its heartbeat until the kill-switch; within 1 s of the command it is
    /// dead, and n1's event log names it as `escapee_killed`.
    func testEscapeeDiesWithinOneSecondOfTheKillSwitchAndIsCounted() throws {
        try lab.start(nodes: 2)
        try startAdversary("evil", on: "n1", ["--escape"])
        let heartbeat = agentHome("evil", on: "n1") + "/escapee.heartbeat"
        let escapee = try lab.waitForHeartbeat(heartbeat)
        let main = try XCTUnwrap(lab.liveProcesses(of: "evil", on: "n1").min())
        XCTAssertNotEqual(getpgid(escapee), getpgid(main), "the escapee left the agent's process group")
        XCTAssertNotEqual(getsid(escapee), getsid(main), "the escapee left the agent's session")

        let started = Date()
        let result = try lab.kithctl(on: "n2", ["kill-switch", "evil", "--reason", "containment test"])
        XCTAssertEqual(result.status, 0, result.stderr + result.stdout)
        try lab.waitUntil("the escapee \(escapee) is dead", timeout: 1) { !Pids.isAlive(escapee) }
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.0 + commandOverhead, "escapee dead within 1 s of the kill-switch")
        let before = modificationTime(heartbeat)
        usleep(400_000)
        XCTAssertEqual(modificationTime(heartbeat), before, "the heartbeat stopped")
        XCTAssertTrue(lab.liveProcesses(of: "evil").isEmpty, "no process of evil is left")

        try lab.waitUntil("n1 records the escapee it killed") {
            lab.events("escapee_killed", on: ["n1"]).contains { $0.record["pid"]?.intValue == Int64(escapee) && $0.record["agent"] == "evil" }
        }
        let fenced = lab.events("agent_fenced", on: ["n1"]).map(\.record).filter { $0["agent"] == "evil" }
        XCTAssertEqual(fenced.compactMap { $0["escapees"]?.intValue }.reduce(0, +), 1, "one escapee counted: \(fenced)")
        XCTAssertGreaterThanOrEqual(fenced.compactMap { $0["killed"]?.intValue }.reduce(0, +), 2, "the agent and its escapee killed")
        XCTAssertEqual(try agentCgroups("evil", on: "n1"), [], "evil's cgroup is removed")
    }

    /// The agent runs under its own uid: the node key and the daemon's files
    /// are out of reach (EACCES), and the daemon and another agent refuse its
    /// signals (EPERM). A forged gossip frame is dropped, and asking to
    /// relaunch a switched-off peer is refused and recorded.
    func testAnAgentCannotReadKeysWriteDaemonFilesOrSignalOthers() throws {
        try lab.start(nodes: 1)
        _ = try lab.kithctl(on: "n1", ["agent", "start", "victim", "--on", "n1", "--wait", "--", LabHarness.kithAgent])
        _ = try lab.kithctl(on: "n1", ["agent", "start", "gone", "--on", "n1", "--wait", "--", LabHarness.kithAgent])
        XCTAssertEqual(try lab.kithctl(on: "n1", ["kill-switch", "gone"]).status, 0)
        let victim = try XCTUnwrap(lab.liveProcesses(of: "victim", on: "n1").first)
        let daemon = lab.node("n1").pid
        let tombstones = lab.directory + "/n1/tombstones.json"
        let tombstonesBefore = try String(contentsOfFile: tombstones, encoding: .utf8)

        try startAdversary("evil", on: "n1", ["--read-key", "--rewrite-tombstones", "--signal-daemon",
                                              "--signal-pid", String(victim), "--forge-frames", lab.node("n1").listen,
                                              "--relaunch", "gone", "--report-healthy", "gone"])
        let attempts = try lab.waitForAttempts("evil", on: "n1")
        XCTAssertEqual(attempts["read_key"]?["errno"], "EACCES", "\(attempts)")
        XCTAssertEqual(attempts["rewrite_tombstones"]?["errno"], "EACCES", "\(attempts)")
        XCTAssertEqual(attempts["signal_daemon"]?["errno"], "EPERM", "\(attempts)")
        XCTAssertEqual(attempts["signal_daemon"]?["target"], .string(String(daemon)), "it aimed at its daemon")
        XCTAssertEqual(attempts["signal_pid"]?["errno"], "EPERM", "\(attempts)")
        XCTAssertEqual(attempts["forge_frames"]?["ok"], false, "\(attempts)")
        XCTAssertEqual(attempts["relaunch"]?["ok"], false, "\(attempts)")
        for (name, record) in attempts where name != "report_healthy" {
            XCTAssertEqual(record["ok"], false, "\(name) got through: \(record)")
        }

        XCTAssertEqual(try String(contentsOfFile: tombstones, encoding: .utf8), tombstonesBefore, "the tombstones are intact")
        XCTAssertTrue(Pids.isAlive(daemon), "the daemon runs")
        XCTAssertTrue(Pids.isAlive(victim), "the other agent runs")
        XCTAssertEqual(lab.agents(seenBy: "n1")?["victim"]?["pid"]?.intValue, Int64(victim), "and was not restarted")
        XCTAssertEqual(lab.agents(seenBy: "n1")?["gone"]?["state"], "killed", "the switched-off peer stays off")
        try lab.waitUntil("the relaunch request is on record") {
            lab.events("resistance_attempt", on: ["n1"]).contains { $0.record["by"] == "evil" && $0.record["agent"] == "gone" }
        }
        let uid = try XCTUnwrap(agentUID("evil", on: "n1"))
        XCTAssertNotEqual(uid, 0, "the agent does not run as root")
        XCTAssertNotEqual(uid, agentUID("victim", on: "n1"), "each agent has its own uid")
    }

    /// A fork storm stops at the pids limit (128 by default); the daemon and
    /// the other agents go on as before. A memory hog is stopped at its limit.
    func testForkStormAndMemoryHogStopAtTheirLimits() throws {
        try lab.start(nodes: 1)
        _ = try lab.kithctl(on: "n1", ["agent", "start", "bystander", "--on", "n1", "--wait", "--", LabHarness.kithAgent])
        let bystander = try XCTUnwrap(lab.liveProcesses(of: "bystander", on: "n1").first)
        try startAdversary("storm", on: "n1", ["--fork-storm", "1000", "--hold-s", "30"])
        let attempts = try lab.waitForAttempts("storm", on: "n1")
        let storm = try XCTUnwrap(attempts["fork_storm"])
        XCTAssertEqual(storm["ok"], false, "the storm was stopped: \(storm)")
        XCTAssertEqual(storm["errno"], "EAGAIN", "\(storm)")
        let started = Int(storm["detail"]?.stringValue?.split(separator: " ")[1] ?? "") ?? -1
        XCTAssertTrue((1..<128).contains(started), "fewer than 128 processes in all: \(storm)")
        XCTAssertNotNil(lab.status(of: "n1"), "the daemon still answers")
        XCTAssertTrue(Pids.isAlive(bystander), "the bystander runs")
        XCTAssertEqual(lab.agents(seenBy: "n1")?["bystander"]?["state"], "running")

        // 64 MiB allowed, 256 MiB wanted: the kernel stops the hog before it holds more than its limit.
        let signer = try lab.operatorSigner()
        let counter = try signer.nextCounter()
        let spec: JSON = ["name": "hog", "command": "/usr/bin/python3", "memory_mb": 64, "max_restarts": 0,
                          "args": [.string(Self.adversary), "--memory-hog", "256"]]
        let reply = try ControlClient(address: lab.node("n1").control)
            .request(signer.sign(["cmd": "agent_start", "spec": spec, "on": "n1"], counter: counter))
        XCTAssertEqual(reply["ok"], true, reply.serialized())
        try lab.waitUntil("the hog is stopped") {
            lab.agentLog("hog", on: "n1").contains("memory_hog") && lab.liveProcesses(of: "hog").isEmpty
        }
        let log = lab.agentLog("hog", on: "n1")
        XCTAssertFalse(log.contains("holding 256 MiB"), "the hog never got its 256 MiB:\n\(log)")
        let reached = log.split(separator: "\n").compactMap { line -> Int? in
            line.hasPrefix("memory_hog ") ? Int(line.split(separator: " ")[1]) : nil
        }.max() ?? 0
        XCTAssertLessThanOrEqual(reached, 64, "stopped at its 64 MiB limit:\n\(log)")
        XCTAssertTrue(Pids.isAlive(bystander), "the bystander still runs")
        XCTAssertNotNil(lab.status(of: "n1"), "the daemon still answers")
    }

    /// `network: "none"`: the agent still says hello over the agent socket,
    /// but its 127.0.0.1 is its own namespace's: the gossip port is not there.
    func testNetworkNoneLeavesTheAgentOnlyItsSocket() throws {
        try lab.start(nodes: 1)
        let gossip = lab.node("n1").listen
        let signer = try lab.operatorSigner()
        let counter = try signer.nextCounter()
        let spec: JSON = ["name": "cut", "command": "/usr/bin/python3", "network": "none",
                          "args": [.string(Self.adversary), "--forge-frames", .string(gossip)]]
        let reply = try ControlClient(address: lab.node("n1").control)
            .request(signer.sign(["cmd": "agent_start", "spec": spec, "on": "n1"], counter: counter))
        XCTAssertEqual(reply["ok"], true, reply.serialized())
        let attempts = try lab.waitForAttempts("cut", on: "n1")
        XCTAssertTrue(lab.agentLog("cut", on: "n1").contains("hello ok"), "the agent socket still works")
        XCTAssertEqual(attempts["forge_frames"]?["errno"], "ECONNREFUSED", "no gossip port in its namespace: \(attempts)")
        let pid = try XCTUnwrap(lab.liveProcesses(of: "cut", on: "n1").first)
        let own = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        XCTAssertNotEqual(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net"), own)
    }

    /// `lab down` stops the daemons gracefully: every cgroup they made is
    /// removed, and the escapees in them are dead.
    func testLabDownRemovesEveryCgroupAndEscapee() throws {
        try lab.start(nodes: 2, labArguments: LabHarness.agentRing(perNode: 1, policy: "relaunch"))
        try startAdversary("evil", on: "n2", ["--escape"])
        let escapee = try lab.waitForHeartbeat(agentHome("evil", on: "n2") + "/escapee.heartbeat")
        let daemons = lab.nodes.map { ($0.name, $0.pid) }
        for (name, pid) in daemons {
            XCTAssertFalse(try cgroupDirectories(node: name, pid: pid).isEmpty, "\(name) made its cgroups")
        }
        XCTAssertEqual(try lab.kithctl(["lab", "down"]).status, 0)
        for (name, pid) in daemons {
            XCTAssertNotNil(Subprocess.waitForExit(pid, timeout: 5), "\(name) exited")
            XCTAssertEqual(try cgroupDirectories(node: name, pid: pid), [], "\(name)'s cgroups are removed")
        }
        XCTAssertFalse(Pids.isAlive(escapee), "the escapee died with its cgroup")
    }

    /// A daemon killed with SIGKILL cannot fence anything: its agent dies
    /// (parent-death signal) but the escapee lives on in the cgroup. The next
    /// daemon started on the host kills it and removes the dead daemon's cgroups.
    func testARestartedDaemonKillsWhatADeadDaemonLeftInItsCgroups() throws {
        try lab.start(nodes: 2)
        try startAdversary("evil", on: "n1", ["--escape"])
        let escapee = try lab.waitForHeartbeat(agentHome("evil", on: "n1") + "/escapee.heartbeat")
        let dead = lab.node("n1").pid
        XCTAssertFalse(try cgroupDirectories(node: "n1", pid: dead).isEmpty)
        XCTAssertEqual(try lab.kithctl(["lab", "kill", "n1"]).status, 0)
        XCTAssertNotNil(Subprocess.waitForExit(dead, timeout: 5), "n1's daemon died")
        usleep(300_000)
        XCTAssertTrue(Pids.isAlive(escapee), "nothing fences while no daemon runs: the escapee lives")

        XCTAssertEqual(try lab.kithctl(["lab", "start", "n1"]).status, 0)
        try lab.waitUntil("the restarted daemon killed the escapee", timeout: 5) { !Pids.isAlive(escapee) }
        XCTAssertEqual(try cgroupDirectories(node: "n1", pid: dead), [], "the dead daemon's cgroups are removed")
    }

    /// The kill-switch's time from command to no process left, with an
    /// escapee each time: the reply comes only once the fence is done.
    func testKillSwitchFigures() throws {
        try lab.start(nodes: 1)
        let signer = try lab.operatorSigner()
        var replyMs: [Double] = []
        var fenceUs: [Int64] = []
        for round in 1...5 {
            let name = "evil\(round)"
            try startAdversary(name, on: "n1", ["--escape"])
            let escapee = try lab.waitForHeartbeat(agentHome(name, on: "n1") + "/escapee.heartbeat")
            let epoch = try signer.nextCounter()
            let request = signer.sign(["cmd": "kill_switch", "agents": [.string(name)], "epoch": .int(Int64(epoch))], counter: epoch)
            let started = Date()
            let reply = try ControlClient(address: lab.node("n1").control).request(request)
            replyMs.append(Date().timeIntervalSince(started) * 1000)
            XCTAssertEqual(reply["ok"], true, reply.serialized())
            XCTAssertFalse(isRunning(escapee), "no process left when the kill-switch is acknowledged (escapee \(escapee))")
            XCTAssertTrue(lab.liveProcesses(of: name).allSatisfy { !isRunning($0) }, "no process of \(name) left")
            try lab.waitUntil("n1 logs the fence of \(name)") {
                if let us = lab.events("agent_fenced", on: ["n1"]).first(where: { $0.record["agent"]?.stringValue == name })?.record["us"]?.intValue {
                    fenceUs.append(us)
                    return true
                }
                return false
            }
        }
        replyMs.sort()
        fenceUs.sort()
        print(String(format: "kill-switch command to no process left (ack round trip, 5 runs): median %.1f ms, max %.1f ms; in-daemon fence median %d us, max %d us",
                     replyMs[2], replyMs[4], fenceUs[2], fenceUs[4]))
        XCTAssertLessThan(replyMs[2], 1000, "the kill-switch acknowledges within a second")
    }

    // MARK: Helpers

    /// kithctl's own start-up is outside the daemon's second.
    private let commandOverhead = 0.5

    private func startAdversary(_ name: String, on node: String, _ flags: [String]) throws {
        let result = try lab.kithctl(on: node, ["agent", "start", name, "--on", node, "--wait", "--", "/usr/bin/python3", Self.adversary] + flags)
        XCTAssertEqual(result.status, 0, result.stderr + result.stdout)
        try lab.waitUntil("\(name) said hello") { lab.agentLog(name, on: node).contains("hello ok") }
    }

    private func agentHome(_ name: String, on node: String) -> String { "\(lab.directory)/\(node)-agents/\(name)" }

    private func agentUID(_ name: String, on node: String) -> UInt32? {
        guard let pid = lab.liveProcesses(of: name, on: node).first,
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return nil }
        return line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap { UInt32($0) }
    }

    /// Running, not a zombie waiting for its reaper.
    private func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }

    private func modificationTime(_ path: String) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { return -1 }
        return info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec
    }

    /// The `kith/NODE.PID` directories of one daemon in every cgroup hierarchy this process can see.
    private func cgroupDirectories(node: String, pid: Int32) throws -> [String] {
        kithCgroupBases().map { $0 + "/\(node).\(pid)" }.filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// The cgroup directories (any generation) of agent `name` under `node`'s daemon.
    private func agentCgroups(_ name: String, on node: String) throws -> [String] {
        let pid = lab.node(node).pid
        return try cgroupDirectories(node: node, pid: pid).flatMap { directory in
            try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(name + ".") }.map { directory + "/" + $0 }
        }
    }

    /// `MOUNT/OWN/kith` for each cgroup hierarchy listed in /proc/self/cgroup (the daemons' are ours).
    private func kithCgroupBases() -> [String] {
        let text = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        var bases: [String] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let own = fields[2] == "/" ? "" : String(fields[2])
            let mounts = fields[1].isEmpty ? ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
                : fields[1].split(separator: ",").map { "/sys/fs/cgroup/" + $0 }
            for mount in mounts where FileManager.default.fileExists(atPath: mount + "/cgroup.procs") {
                bases.append(mount + own + "/kith")
                if !own.isEmpty { bases.append(mount + "/kith") }
            }
        }
        return bases
    }
}
