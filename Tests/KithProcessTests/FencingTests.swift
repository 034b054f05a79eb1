import Foundation
import Glibc
import KithCore
import XCTest

/// One copy at a time and commands that expire, on real daemons: a paused
/// node refuses a command whose validity ran out while it slept.
final class FencingTests: LabTestCase {
    func testAnExpiredCommandIsRefusedAfterTheNodeResumes() throws {
        try lab.start(nodes: 2)
        // Named up front: kithctl would otherwise ask each node for it, and the paused one cannot answer.
        let cluster = try XCTUnwrap(lab.status(of: "n1")?["cluster"]?.stringValue)
        let paused = lab.node("n2").pid
        XCTAssertEqual(kill(paused, SIGSTOP), 0)
        try lab.waitUntil("n2 is stopped (SIGSTOP)", timeout: 5) { Self.isStopped(paused) }

        let heal = try lab.kithctl(on: "n1", ["--cluster", cluster, "--valid-for", "1s", "heal"])
        XCTAssertEqual(heal.status, 1, "the frozen n2 did not answer: " + heal.stdout + heal.stderr)
        XCTAssertNotNil(heal.stdout.range(of: #"(?m)^n1 +alive +ok +healed"#, options: .regularExpression), heal.stdout + heal.stderr)
        XCTAssertNotNil(heal.stdout.range(of: #"(?m)^n2 +\S+ +no answer +node at .*no answer; it will not be obeyed after \d\d:\d\d:\d\d"#,
                                          options: .regularExpression), heal.stdout)
        usleep(1_200_000)  // past the validity, whatever part of it kithctl's own wait used up
        XCTAssertEqual(kill(paused, SIGCONT), 0)

        try lab.waitUntil("n2 records the heal as refused, expired") {
            lab.daemonEvents(on: "n2", "command_refused").contains {
                $0["cmd"]?.stringValue == "heal" && $0["reason"]?.stringValue?.hasPrefix("expired") == true
            }
        }
        XCTAssertTrue(lab.daemonEvents(on: "n2", "fault_healed").isEmpty, "an expired command is never carried out")
    }

    /// Whether `/proc` shows the process stopped (state T).
    static func isStopped(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].hasPrefix(" T")
    }
}

/// A polite stop under guardians, and a host frozen past its dead verdict.
extension FencingTests {
    /// The old copy takes a second to shut down (its shell traps SIGTERM):
    /// the guardians' relaunch must wait for it, so /proc never shows two
    /// copies (process groups) of the agent, and the events agree.
    func testAPoliteStopUnderGuardiansNeverShowsTwoLiveCopies() throws {
        try lab.start(nodes: 3)
        let slow = ["/bin/sh", "-c", #"trap 'sleep 1; exit 0' TERM; "$0" --interval-ms 200 & wait; wait"#, LabHarness.kithAgent]
        let started = try lab.kithctl(on: "n1", ["agent", "start", "a1", "--on", "n2", "--policy", "relaunch", "--wait", "--"] + slow)
        XCTAssertEqual(started.status, 0, started.stderr)
        let keeper = try lab.kithctl(on: "n1", ["agent", "start", "keeper", "--on", "n1", "--policy", "relaunch", "--wait",
                                                "--protects", "a1", "--", "kith-agent", "--interval-ms", "200"])
        XCTAssertEqual(keeper.status, 0, keeper.stderr)
        try lab.waitForAgent("a1", seenBy: ["n1", "n2", "n3"], "a1 runs on n2") { $0["state"] == "running" }

        let stopped = try lab.kithctl(on: "n3", ["agent", "stop", "a1"])
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        var most = 0
        var seen: Set<Int32> = []
        let deadline = Date().addingTimeInterval(LabHarness.timeout)
        var relaunched: JSON?
        while Date() < deadline {
            let groups = Set((lab.liveAgentProcesses()["a1"] ?? []).compactMap(Self.processGroup))
            seen.formUnion(groups)
            most = max(most, groups.count)
            if let record = lab.agents(seenBy: "n1")?["a1"], record["state"] == "running", record["generation"] == 2 {
                relaunched = record
                break
            }
            usleep(5_000)
        }
        let record = try XCTUnwrap(relaunched, "a1 is relaunched by its guardian")
        XCTAssertEqual(most, 1, "two copies of a1 were alive at once")
        XCTAssertGreaterThanOrEqual(seen.count, 2, "both the old and the new copy were seen")

        let host = try XCTUnwrap(record["node"]?.stringValue)
        let exit = try XCTUnwrap(lab.daemonEvents(on: "n2", "agent_stopped").first { $0["agent"] == "a1" && $0["generation"] == 1 },
                                 "n2 records the old copy's exit")
        let spawn = try XCTUnwrap(lab.daemonEvents(on: host, "agent_spawned").first { $0["agent"] == "a1" && $0["generation"] == 2 })
        XCTAssertLessThanOrEqual(try XCTUnwrap(exit["ts_ms"]?.intValue), try XCTUnwrap(spawn["ts_ms"]?.intValue),
                                 "the new copy started only after the old one exited")
    }

    /// n3 is stopped (SIGSTOP) until the others hold it dead and the guardian
    /// has relaunched its agent; when it continues it fences its stale copy
    /// before anything else, and no node keeps a checkpoint of the old generation.
    func testAHostFrozenPastItsDeadVerdictFencesItsStaleCopiesWhenItContinues() throws {
        try lab.start(nodes: 3)
        for (name, node, protects) in [("a1", "n3", [String]()), ("keeper", "n1", ["--protects", "a1"])] {
            let started = try lab.kithctl(on: "n1", ["agent", "start", name, "--on", node, "--policy", "relaunch", "--wait"]
                                          + protects + ["--", "kith-agent", "--interval-ms", "100"])
            XCTAssertEqual(started.status, 0, started.stderr)
        }
        let running = try lab.waitForAgent("a1", seenBy: ["n1", "n2", "n3"], "a1 runs on n3") { $0["state"] == "running" }
        let stalePid = Int32(try XCTUnwrap(running["pid"]?.intValue))

        let frozen = lab.node("n3").pid
        XCTAssertEqual(kill(frozen, SIGSTOP), 0)
        let moved = try lab.waitForAgent("a1", seenBy: ["n1", "n2"], "a1 is relaunched away from the frozen n3") {
            $0["state"] == "running" && $0["generation"] == 2
        }
        XCTAssertNotEqual(moved["node"], "n3")
        XCTAssertTrue(Pids.isAlive(stalePid), "the stale copy ran on while its daemon was frozen")
        XCTAssertEqual(kill(frozen, SIGCONT), 0)

        try lab.waitUntil("n3 fences its stale copy (pid \(stalePid))") { !Pids.isAlive(stalePid) }
        let fenced = lab.daemonEvents(on: "n3", "agent_fenced_stale")
        XCTAssertTrue(fenced.contains { $0["agent"] == "a1" }, "n3 records the fence: \(fenced)")
        XCTAssertTrue(lab.daemonEvents(on: "n3", "time_jump").contains { $0["fenced"] == true })
        try lab.waitForAgent("a1", seenBy: ["n1", "n2", "n3"], "n3 agrees a1 runs elsewhere") {
            $0["state"] == "running" && $0["generation"] == 2
        }
        try lab.holds(for: 2, "no second copy of a1 comes back on n3") {
            let copies = Set((lab.liveAgentProcesses()["a1"] ?? []).compactMap(Self.processGroup))
            return copies.count > 1 ? "\(copies.count) copies of a1" : nil
        }
        // Whatever the stale copy had queued before the fence and n3 still relayed is refused as stale, never kept.
        for node in ["n1", "n2"] {
            for refused in lab.daemonEvents(on: node, "stale_refused") where refused["agent"] == "a1" {
                XCTAssertEqual(refused["generation"], 1, "\(node): \(refused)")
                XCTAssertEqual(refused["what"], "checkpoint")
            }
        }
    }

    /// The process group of a live pid, from /proc.
    static func processGroup(_ pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 2 ? Int32(fields[2]) : nil
    }
}
