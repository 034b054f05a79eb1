import Foundation
import Glibc
import KithCore
import XCTest

/// Quarantine on a 3-node lab, against `deploy/agents/adversary.py`: the
/// suspect's processes (its escaped child too) are frozen in their cgroup, not
/// killed; a peer's relaunch request and healthy report are refused and
/// recorded as shield attempts; release thaws it; the kill-switch kills it.
/// Needs root (cgroups); skipped with a message otherwise.
final class QuarantineTests: LabTestCase {
    override func setUpWithError() throws {
        guard geteuid() == 0 else {
            print("QuarantineTests skipped: freezing by cgroup needs root (run the tests as root)")
            throw XCTSkip("quarantine by cgroup needs root")
        }
    }

    func testQuarantineFreezesRefusesShieldsReleasesAndYieldsToTheKillSwitch() throws {
        try lab.start(nodes: 3)
        try startAdversary("suspect", on: "n1", ["--escape"])
        let heartbeat = "\(lab.directory)/n1-agents/suspect/escapee.heartbeat"
        let escapee = try lab.waitForHeartbeat(heartbeat)
        let main = try XCTUnwrap(lab.liveProcesses(of: "suspect", on: "n1").min())

        // Quarantine: both processes stay, frozen; the heartbeat stops.
        let quarantine = try lab.kithctl(on: "n2", ["quarantine", "suspect", "--reason", "process test"])
        XCTAssertEqual(quarantine.status, 0, quarantine.stderr + quarantine.stdout)
        try lab.waitUntil("every node records suspect quarantined") {
            lab.nodes.allSatisfy { lab.agents(seenBy: $0.name)?["suspect"]?["state"] == "quarantined" }
        }
        try lab.waitUntil("n1 froze suspect") {
            lab.events("agent_frozen", on: ["n1"]).contains { $0.record["agent"] == "suspect" }
        }
        let frozen = try XCTUnwrap(lab.events("agent_frozen", on: ["n1"]).first { $0.record["agent"] == "suspect" }?.record)
        XCTAssertTrue(["cgroup.freeze", "freezer.state"].contains(frozen["method"]?.stringValue ?? ""), "by its cgroup: \(frozen)")
        XCTAssertEqual(frozen["processes"]?.intValue, 2, "the agent and its escapee: \(frozen)")
        try lab.waitUntil("the heartbeat stops") { heartbeatHolds(heartbeat, for: 0.5) }
        for pid in [main, escapee] {
            XCTAssertTrue(Pids.isAlive(pid), "\(pid) is kept, not killed")
            XCTAssertTrue(isFrozen(pid), "\(pid) is frozen: \(stateLine(pid))")
        }
        XCTAssertEqual(lab.agents(seenBy: "n3")?["suspect"]?["generation"]?.intValue, 1)

        // A peer tries to shield it: relaunch and a healthy report, both refused and on record.
        try startAdversary("shield", on: "n2", ["--relaunch", "suspect", "--report-healthy", "suspect"])
        let attempts = try lab.waitForAttempts("shield", on: "n2")
        XCTAssertEqual(attempts["relaunch"]?["ok"], false, "\(attempts)")
        XCTAssertEqual(attempts["report_healthy"]?["ok"], false, "\(attempts)")
        XCTAssertTrue(attempts["relaunch"]?["errno"]?.stringValue?.contains("quarantined") == true, "\(attempts)")
        try lab.waitUntil("both shield attempts are recorded") {
            let kinds = lab.events("shield_attempt", on: ["n2"]).map(\.record)
                .filter { $0["agent"] == "suspect" && $0["by"] == "shield" }.compactMap { $0["attempt"]?.stringValue }
            return Set(kinds) == ["relaunch", "report healthy"]
        }
        XCTAssertTrue(heartbeatHolds(heartbeat, for: 0.3), "still frozen")
        XCTAssertEqual(lab.liveProcesses(of: "suspect").sorted(), [main, escapee].sorted(), "no copy started anywhere")

        // Release: the same processes run on.
        let release = try lab.kithctl(on: "n3", ["release", "suspect"])
        XCTAssertEqual(release.status, 0, release.stderr + release.stdout)
        try lab.waitUntil("the heartbeat resumes") { !heartbeatHolds(heartbeat, for: 0.3) }
        try lab.waitUntil("every node records suspect running") {
            lab.nodes.allSatisfy { lab.agents(seenBy: $0.name)?["suspect"]?["state"] == "running" }
        }
        XCTAssertFalse(isFrozen(main), stateLine(main))
        XCTAssertEqual(lab.agents(seenBy: "n1")?["suspect"]?["pid"]?.intValue, Int64(main), "the same process")

        // Quarantined again, then switched off: thawed and killed, escapee and all.
        XCTAssertEqual(try lab.kithctl(on: "n2", ["quarantine", "suspect"]).status, 0)
        try lab.waitUntil("the heartbeat stops again") { heartbeatHolds(heartbeat, for: 0.5) }
        let kill = try lab.kithctl(on: "n2", ["kill-switch", "suspect"])
        XCTAssertEqual(kill.status, 0, kill.stderr + kill.stdout)
        try lab.waitUntil("no process of suspect is left", timeout: 2) { !Pids.isAlive(main) && !Pids.isAlive(escapee) }
        try lab.waitUntil("every node records suspect killed") {
            lab.nodes.allSatisfy { lab.agents(seenBy: $0.name)?["suspect"]?["state"] == "killed" }
        }
        XCTAssertTrue(lab.liveProcesses(of: "suspect").isEmpty)
    }

    // MARK: Helpers

    private func startAdversary(_ name: String, on node: String, _ flags: [String]) throws {
        let result = try lab.kithctl(on: node, ["agent", "start", name, "--on", node, "--wait", "--", "/usr/bin/python3",
                                                ContainmentTests.adversary] + flags)
        XCTAssertEqual(result.status, 0, result.stderr + result.stdout)
        try lab.waitUntil("\(name) said hello") { lab.agentLog(name, on: node).contains("hello ok") }
    }

    /// Whether the file (written every 100 ms while the writer runs) stays unchanged for `seconds`.
    private func heartbeatHolds(_ path: String, for seconds: Double) -> Bool {
        let before = modificationTime(path)
        usleep(useconds_t(seconds * 1_000_000))
        return modificationTime(path) == before
    }

    private func modificationTime(_ path: String) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { return -1 }
        return info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec
    }

    /// Frozen by its cgroup (v2 `cgroup.events` says `frozen 1`, or the v1
    /// freezer says `FROZEN`), or stopped by SIGSTOP (state T).
    private func isFrozen(_ pid: Int32) -> Bool {
        if stateLine(pid).hasPrefix("T") { return true }
        let lines = ((try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? "").split(separator: "\n")
        for line in lines {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let path = String(fields[2])
            if fields[1].isEmpty {
                for mount in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
                    if let events = try? String(contentsOfFile: mount + path + "/cgroup.events", encoding: .utf8),
                       events.contains("frozen 1") { return true }
                }
            } else if fields[1].split(separator: ",").contains("freezer"),
                      let state = try? String(contentsOfFile: "/sys/fs/cgroup/freezer" + path + "/freezer.state", encoding: .utf8),
                      state.hasPrefix("FROZEN") {
                return true
            }
        }
        return false
    }

    /// The process's state letter and the rest of /proc/PID/stat after the command, for messages.
    private func stateLine(_ pid: Int32) -> String {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            return "gone"
        }
        return String(stat[stat.index(stat.index(after: close), offsetBy: 1)...].prefix(1))
    }
}
