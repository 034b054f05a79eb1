import KithLab
import Foundation
import Glibc
import KithControl
import KithCore
import XCTest

/// A real kithd writes its agents' output: every line stamped and in order, in the file and in
/// `kithctl logs`; a flooding agent and an endless line leave it bounded, answering, its logs capped
/// and rotating; a grandchild that keeps the agent's stdout open does not keep the pipe.
final class AgentLogStampTests: LabTestCase {
    /// A lone kithd started by the test, ended (with its agents, found by `KITH_LOG`) in `tearDown`.
    private var daemon: Int32 = 0
    private var control = ""
    private var dataDir = ""
    private var scratch: String?

    override func tearDown() {
        if daemon > 0 {
            kill(daemon, SIGKILL)
            _ = Subprocess.waitForExit(daemon, timeout: 5)
        }
        // The agents and whatever they started (a grandchild too) carry KITH_LOG.
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(), !dataDir.isEmpty,
                  Processes.agentLog(of: pid)?.hasPrefix(dataDir + "/agents/") == true else { continue }
            kill(pid, SIGKILL)
        }
        if let scratch { try? FileManager.default.removeItem(atPath: scratch) }
        super.tearDown()
    }

    /// Starts kithd with `config` (JSON) and waits until it answers.
    private func startDaemon(_ config: String) throws {
        try FileManager.default.createDirectory(atPath: lab.directory, withIntermediateDirectories: true)
        control = "127.0.0.1:\(try freeLoopbackPort())"
        dataDir = lab.directory + "/solo"
        let path = lab.directory + "/solo.json"
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        daemon = try Subprocess.spawn(Binaries.kithd, ["--name", "solo", "--listen", "127.0.0.1:\(try freeLoopbackPort())",
                                                       "--control", control, "--data-dir", dataDir, "--config", path,
                                                       "--log-file", lab.directory + "/kithd.log"],
                                      stdout: lab.directory + "/solo.out", stderr: lab.directory + "/solo.err")
        try lab.waitUntil("kithd answers") { (try? ControlClient(address: control).request(["cmd": "status"])) != nil }
    }

    private func log(_ agent: String, suffix: String = "") -> [AgentLogLine] {
        let text = (try? String(contentsOfFile: dataDir + "/agents/\(agent).log" + suffix, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { AgentLogLine.parse(String($0)) }
    }

    private func agentsJSON(_ agents: [(String, String)]) -> String {
        agents.map { #"{"name": "\#($0.0)", "command": "/bin/sh", "args": ["-c", "\#($0.1)"]}"# }.joined(separator: ", ")
    }

    func testEveryLineOnStdoutAndStderrIsStampedInOrderInTheFileAndInKithctlLogs() throws {
        let script = "i=1; while [ $i -le 20 ]; do echo out $i; echo err $i >&2; i=$((i+1)); done; printf unfinished; exec sleep 1000"
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        try startDaemon(#"{"agents": [\#(agentsJSON([("talker", script)]))]}"#)
        try lab.waitUntil("all 40 lines and the unfinished one (after its quiet time) are in the log") {
            log("talker").filter { $0.stream == "out" || $0.stream == "err" }.count == 41
        }
        let lines = log("talker")
        let after = Int64(Date().timeIntervalSince1970 * 1000)
        XCTAssertTrue(lines.allSatisfy { ($0.tsMs ?? 0) >= before - 1000 && ($0.tsMs ?? .max) <= after }, "every line has its time")
        let times = lines.compactMap(\.tsMs)
        XCTAssertEqual(times, times.sorted(), "in the order written")
        let start = try XCTUnwrap(AgentLogMarker.parse(lines[0]), "the one start line comes first: \(lines[0])")
        XCTAssertEqual(start.node, "solo")
        XCTAssertEqual(start.generation, 1)
        XCTAssertEqual(lines.filter { AgentLogMarker.parse($0) != nil }.count, 1, "one start line per spawn")
        XCTAssertEqual(lines.filter { $0.stream == "out" }.map(\.text), (1...20).map { "out \($0)" } + ["unfinished"])
        XCTAssertEqual(lines.filter { $0.stream == "err" }.map(\.text), (1...20).map { "err \($0)" })

        let json = try lab.kithctl(["--node", control, "logs", "talker", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let records = try json.stdout.split(separator: "\n").map { try JSON.parse(String($0)) }
        XCTAssertEqual(records.count, 41, json.stdout)
        XCTAssertTrue(records.allSatisfy { $0["ts_ms"]?.intValue != nil && $0["pid"]?.intValue == Int64(start.pid) }, json.stdout)
        XCTAssertEqual(records.filter { $0["stream"] == "err" }.compactMap { $0["line"]?.stringValue }, (1...20).map { "err \($0)" })
        let stamps = records.compactMap { $0["ts_ms"]?.intValue }
        XCTAssertEqual(stamps, stamps.sorted())
        let text = try lab.kithctl(["--node", control, "logs", "talker"])
        XCTAssertTrue(text.stdout.contains("generation 1 started (pid \(start.pid))"), text.stdout)
        XCTAssertNotNil(text.stdout.range(of: #"\d\d:\d\d:\d\d\.\d{3}  solo  g1  out 7\n"#, options: .regularExpression), text.stdout)
        XCTAssertNotNil(text.stdout.range(of: #"\d\d:\d\d:\d\d\.\d{3}  solo  g1  \[err\] err 7\n"#, options: .regularExpression), text.stdout)
        // --since filters line by line: from the last line's time on, only lines that recent.
        let last = try XCTUnwrap(stamps.last)
        let recent = try lab.kithctl(["--node", control, "logs", "talker", "--json", "--since", String(last)])
        let kept = try recent.stdout.split(separator: "\n").map { try JSON.parse(String($0)) }
        XCTAssertFalse(kept.isEmpty)
        XCTAssertTrue(kept.allSatisfy { ($0["ts_ms"]?.intValue ?? 0) >= last }, recent.stdout)
    }

    func testAFloodAndAnEndlessLineLeaveTheDaemonBoundedAnsweringAndItsLogsCapped() throws {
        let cap = 256 << 10
        let endless = "head -c 1048576 /dev/zero | tr -c x x; exec sleep 1000"
        try startDaemon(#"{"agent_log_bytes_max": \#(cap), "agents": [\#(agentsJSON([("flood", "exec yes"), ("endless", endless)]))]}"#)
        try lab.waitUntil("the flood's log has rotated") { FileManager.default.fileExists(atPath: dataDir + "/agents/flood.log.1") }
        let started = Date()
        var answers = 0
        var rssMax = 0
        var sizeMax = 0
        // Three seconds of flood: the daemon answers every status and its memory and log stay bounded.
        while Date().timeIntervalSince(started) < 3 {
            let status = try ControlClient(address: control, timeoutMilliseconds: 2000).request(["cmd": "status"])
            XCTAssertEqual(status["ok"], true)
            answers += 1
            rssMax = max(rssMax, residentKilobytes(of: daemon))
            let size = (try? FileManager.default.attributesOfItem(atPath: dataDir + "/agents/flood.log"))?[.size] as? Int
            sizeMax = max(sizeMax, size ?? 0)
            usleep(100_000)
        }
        XCTAssertGreaterThan(answers, 10, "kithd kept answering while flooded")
        XCTAssertLessThan(rssMax, 64 << 10, "kithd's resident memory stays bounded (KiB)")
        XCTAssertLessThanOrEqual(sizeMax, cap + AgentLogStampTests.writeBytesMax, "the live log stays within its cap")
        let rotated = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: dataDir + "/agents/flood.log.1")[.size] as? Int)
        XCTAssertLessThanOrEqual(rotated, cap + AgentLogStampTests.writeBytesMax)
        XCTAssertTrue(log("flood").dropFirst().dropLast().allSatisfy { $0.text == "y" || $0.stream == "kithd" }, "whole stamped lines after a rotation")
        let rotations = (try String(contentsOfFile: lab.directory + "/kithd.log", encoding: .utf8))
            .components(separatedBy: "\"agent_log_rotated\"").count - 1
        XCTAssertGreaterThan(rotations, 1, "rotation keeps working under the flood")

        try lab.waitUntil("the endless line is cut and marked") { log("endless").contains { $0.stream == "out" } }
        let cut = try XCTUnwrap(log("endless").first { $0.stream == "out" })
        XCTAssertEqual(cut.text, String(repeating: "x", count: 16 << 10) + " [kith: line cut at 16384 bytes]")
        XCTAssertEqual(log("endless").filter { $0.stream == "out" }.count, 1, "the rest of the line is dropped, not kept")
    }

    func testFollowingGoesOnThroughRotationsWithTheSameGeneration() throws {
        let script = "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.01; done"
        try startDaemon(#"{"agent_log_bytes_max": 4096, "agents": [\#(agentsJSON([("counter", script)]))]}"#)
        let output = lab.directory + "/follow.out"
        let follower = try Subprocess.spawn(Binaries.kithctl, ["--node", control, "logs", "counter", "-f"],
                                            environment: ["XDG_CONFIG_HOME": lab.configHome],
                                            stdout: output, stderr: lab.directory + "/follow.err")
        defer {
            kill(follower, SIGKILL)
            _ = Subprocess.waitForExit(follower, timeout: 5)
        }
        func rotations() -> Int {
            ((try? String(contentsOfFile: lab.directory + "/kithd.log", encoding: .utf8)) ?? "")
                .components(separatedBy: "\"agent_log_rotated\"").count - 1
        }
        func newest() -> Int {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { line in line.range(of: "  line ").flatMap { Int(line[$0.upperBound...]) } }.max() ?? 0
        }
        try lab.waitUntil("two rotations") { rotations() >= 2 }
        let seen = newest()
        let rotated = rotations()
        try lab.waitUntil("two more rotations", timeout: 60) { rotations() >= rotated + 2 }
        try lab.waitUntil("the follower prints lines written after them") { newest() > seen + 100 }
        let text = try String(contentsOfFile: output, encoding: .utf8)
        XCTAssertFalse(text.contains("before any marker"), "a rotated log goes on with its generation: \(text.suffix(500))")
        XCTAssertTrue(text.split(separator: "\n").filter { $0.contains("  line ") }.allSatisfy { $0.contains("  solo  g1  line ") },
                      String(text.suffix(500)))
        XCTAssertTrue(text.contains("[kithd] log rotated at "), "the rotation says so in the output")
    }

    func testAGrandchildHoldingStdoutDoesNotKeepThePipeAndARestartGetsAFreshOne() throws {
        // The agent runs under a uid of its own: its files go to a directory anyone may write.
        let directory = "/tmp/kith-grandchild-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o1777)
        scratch = directory
        let script = """
            if [ ! -e \(directory)/first ]; then p=$(readlink /proc/$$/fd/1); echo $p > \(directory)/first; \
            setsid sleep 1000 & echo $! > \(directory)/grandchild; echo first; exit 3; fi; \
            p=$(readlink /proc/$$/fd/1); echo $p > \(directory)/second; echo second; exec sleep 1000
            """
        try startDaemon(#"{"agents": [\#(agentsJSON([("holder", script)]))]}"#)
        try lab.waitUntil("the restarted agent says so") { log("holder").contains { $0.text == "second" } }
        let first = try String(contentsOfFile: directory + "/first", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let second = try String(contentsOfFile: directory + "/second", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(first.hasPrefix("pipe:") && second.hasPrefix("pipe:"), "\(first) \(second)")
        XCTAssertNotEqual(first, second, "the restart writes into a fresh pipe")
        try lab.waitUntil("kithd has let go of the first process's pipe") { !descriptors(of: daemon).contains(first) }
        XCTAssertTrue(descriptors(of: daemon).contains(second), "and reads the new one")
        let lines = log("holder")
        XCTAssertEqual(lines.filter { AgentLogMarker.parse($0) != nil }.count, 2, "one start line per spawn")
        XCTAssertTrue(lines.contains { $0.stream == "kithd" && $0.text.hasPrefix("generation 1 ended") && $0.text.contains("exit status 3") },
                      "the first process's end is written: \(lines.map(\.formatted))")
        XCTAssertEqual(lines.filter { $0.stream == "out" }.map(\.text), ["first", "second"])
    }

    /// `AgentOutput.writeBytesMax`: the most one write passes a log's cap by.
    private static let writeBytesMax = 32 << 10

    private func residentKilobytes(of pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    private func descriptors(of pid: Int32) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
        }
    }
}
