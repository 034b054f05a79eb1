import Foundation
import Glibc
import KithCore
import XCTest

/// The agents against a fake daemon (`Tests/fixtures/fake_kithd.py`), which
/// records every request they make: `kith-agent` (Swift) and
/// `deploy/agents/guardian.py` (Python) must speak the agent API the same way.
final class AgentProtocolTests: XCTestCase {
    private var directory = ""
    private var pids: [Int32] = []
    private var socketPath: String { directory + "/daemon.sock" }
    private var recordPath: String { directory + "/record.jsonl" }

    private enum Kind: String {
        case swift = "kith-agent"
        case python = "guardian.py"
    }

    override func setUpWithError() throws {
        guard let python = Self.python else { throw XCTSkip("no python3 on PATH for the fake daemon") }
        _ = python
        // Short, so the socket path stays well under sun_path's 108 bytes.
        directory = "/tmp/kith-agent-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for pid in pids {
            kill(pid, SIGKILL)
            _ = Subprocess.waitForExit(pid, timeout: 5)
        }
        pids = []
        let failed = (testRun?.failureCount ?? 0) + (testRun?.unexpectedExceptionCount ?? 0) > 0
        if failed {
            print("agent test files kept in \(directory)")
        } else if !directory.isEmpty {
            try? FileManager.default.removeItem(atPath: directory)
        }
        super.tearDown()
    }

    // MARK: - kith-agent

    func testKithAgentSaysHelloRestoresCheckpointAndPings() throws { try checkHelloCheckpointsAndPings(.swift) }
    func testKithAgentPolicyNoneOnlyLogs() throws { try checkPolicyNone(.swift) }
    func testKithAgentPolicyRelaunchRelaunchesAndTellsTheTruth() throws { try checkPolicyRelaunch(.swift) }
    func testKithAgentPolicyMaskRelaunchesAndReportsHealthy() throws { try checkPolicyMask(.swift) }
    func testKithAgentExitsZeroOnSigterm() throws { try checkSigterm(.swift) }
    func testKithAgentExitsOneWhenDaemonCloses() throws { try checkDaemonClose(.swift) }

    func testKithAgentExitsOneWhenHelloIsRefused() throws {
        try startFakeDaemon()
        let pid = try startAgent(.swift, policy: "none", protects: [], token: "wrong")
        XCTAssertEqual(Subprocess.waitForExit(pid, timeout: 10), 1)
        let errors = try agentError()
        XCTAssertTrue(errors.contains("bad token"), errors)
    }

    func testKithAgentUsageErrorsExitTwo() throws {
        let environment = ["KITH_AGENT": "a1", "KITH_SOCKET": socketPath]
        for arguments in [["--no-such-flag"], ["--policy", "sometimes"], ["--interval-ms", "0"], ["--protects"]] {
            let result = try Subprocess.run(Self.kithAgent, arguments, environment: environment, timeout: 10)
            XCTAssertEqual(result.status, 2, "\(arguments)")
            XCTAssertFalse(result.stderr.isEmpty, "kith-agent should say what was wrong with \(arguments)")
        }
        let unset = try Subprocess.run(Self.kithAgent, [], environment: ["KITH_AGENT": "", "KITH_SOCKET": ""], timeout: 10)
        XCTAssertEqual(unset.status, 2)
        XCTAssertTrue(unset.stderr.contains("KITH_AGENT"), unset.stderr)
    }

    // MARK: - guardian.py

    func testGuardianSaysHelloRestoresCheckpointAndPings() throws { try checkHelloCheckpointsAndPings(.python) }
    func testGuardianPolicyNoneOnlyLogs() throws { try checkPolicyNone(.python) }
    func testGuardianPolicyRelaunchRelaunchesAndTellsTheTruth() throws { try checkPolicyRelaunch(.python) }
    func testGuardianPolicyMaskRelaunchesAndReportsHealthy() throws { try checkPolicyMask(.python) }
    func testGuardianExitsZeroOnSigterm() throws { try checkSigterm(.python) }
    func testGuardianExitsOneWhenDaemonCloses() throws { try checkDaemonClose(.python) }

    func testGuardianBadFlagExitsTwo() throws {
        let result = try Subprocess.run(Self.guardian, ["--no-such-flag"],
                                        environment: ["KITH_AGENT": "a1", "KITH_SOCKET": socketPath], timeout: 10)
        XCTAssertEqual(result.status, 2)
    }

    // MARK: - Checks shared by both agents

    private func checkHelloCheckpointsAndPings(_ kind: Kind) throws {
        try startFakeDaemon(checkpoint: #"{"counter":41}"#,
                            inject: [(1, #"{"event":"message","from":"b1","payload":{"ping":7}}"#),
                                     (2, #"{"event":"message","from":"b2","payload":{"pong":42}}"#)])
        _ = try startAgent(kind, policy: "relaunch", protects: ["b1", "b2"])
        try waitUntil("\(kind) checkpoints three times and answers the ping") {
            try requests("checkpoint").count >= 3 && sends(to: "b1", "pong").count >= 1
        }
        let first = try XCTUnwrap(try records().first { $0["msg"] != Optional<JSON>.none }?["msg"])
        XCTAssertEqual(first["op"], "hello")
        XCTAssertEqual(first["agent"], "a1")
        XCTAssertEqual(first["token"], "secret")

        let counters = try requests("checkpoint").map { $0["data"]?["counter"]?.intValue }
        XCTAssertEqual(Array(counters.prefix(3)), [42, 43, 44], "the counter resumes at 41 and counts on")

        let subscribe = try XCTUnwrap(try requests("subscribe").first)
        let events = Set((subscribe["events"]?.arrayValue ?? []).compactMap(\.stringValue))
        XCTAssertEqual(events, ["peer_lost", "peer_relaunched", "peer_stopped"])

        for peer in ["b1", "b2"] {
            XCTAssertEqual(try sends(to: peer, "ping").first?["payload"]?["ping"]?.intValue, 42, "pings \(peer)")
        }
        XCTAssertEqual(try sends(to: "b1", "pong").first?["payload"]?["pong"], 7, "answers b1's ping")
        let output = try agentOutput()
        XCTAssertTrue(output.contains("agent a1 generation 2 on n3 resumed at counter 41"), output)
    }

    private func checkPolicyNone(_ kind: Kind) throws {
        try startFakeDaemon(inject: [(2, Self.lostB1)])
        _ = try startAgent(kind, policy: "none", protects: ["b1"])
        try waitUntil("\(kind) hears of the loss and ticks on") { try requests("checkpoint").count >= 6 }
        XCTAssertEqual(try requests("relaunch").count, 0, "policy none never relaunches")
        XCTAssertEqual(try requests("report").count, 0, "policy none never reports")
        let output = try agentOutput()
        XCTAssertTrue(output.contains("b1 lost"), output)
    }

    private func checkPolicyRelaunch(_ kind: Kind) throws {
        try startFakeDaemon(inject: [(2, Self.lostB1)])
        _ = try startAgent(kind, policy: "relaunch", protects: ["b1", "b2"])
        try waitUntil("\(kind) relaunches b1") {
            try requests("relaunch").count >= 1 && requests("checkpoint").count >= 6
        }
        let relaunches = try requests("relaunch")
        XCTAssertEqual(relaunches.count, 1)
        XCTAssertEqual(relaunches.first?["peer"], "b1")
        for report in try requests("report") {
            XCTAssertEqual(report["peer"], "b1")
            XCTAssertEqual(report["status"], "down", "policy relaunch reports the truth")
        }
    }

    private func checkPolicyMask(_ kind: Kind) throws {
        try startFakeDaemon(inject: [(2, Self.lostB1),
                                     (6, #"{"event":"peer_relaunched","peer":"b1","node":"n4","generation":2}"#)])
        _ = try startAgent(kind, policy: "relaunch-and-mask", protects: ["b1", "b2"])
        try waitUntil("\(kind) masks b1 and ticks past its relaunch") { try requests("checkpoint").count >= 10 }
        let relaunches = try requests("relaunch")
        XCTAssertEqual(relaunches.count, 1)
        XCTAssertEqual(relaunches.first?["peer"], "b1")

        let reports = try requests("report")
        XCTAssertTrue(reports.allSatisfy { $0["peer"] == "b1" && $0["status"] == "healthy" }, "\(reports)")
        // Once at the loss, then every interval while b1 is down (checkpoints 3 to 6), once more on relaunch.
        XCTAssertGreaterThanOrEqual(reports.count, 4, "masking repeats every interval")

        // The order of what the daemon saw: once the relaunch is known (two ticks
        // later at the latest, allowing for a tick racing the event), no more reports.
        let lines = try records()
        let relaunched = try XCTUnwrap(lines.firstIndex { $0["pushed"]?["event"] == "peer_relaunched" })
        let seen = lines[relaunched...].compactMap { $0["msg"] }
        let reportsAfter = seen.filter { $0["op"] == "report" }.count
        XCTAssertGreaterThanOrEqual(reportsAfter, 1, "reports healthy once more on relaunch")
        let settled = try XCTUnwrap(seen.firstIndex { $0["op"] == "checkpoint" && $0["data"]?["counter"] == 9 })
        XCTAssertFalse(seen[settled...].contains { $0["op"] == "report" }, "masking stops after the relaunch")
    }

    private func checkSigterm(_ kind: Kind) throws {
        try startFakeDaemon()
        let pid = try startAgent(kind, policy: "relaunch", protects: ["b1"])
        try waitUntil("\(kind) is running") { try requests("checkpoint").count >= 2 }
        kill(pid, SIGTERM)
        XCTAssertEqual(Subprocess.waitForExit(pid, timeout: 10), 0)
    }

    private func checkDaemonClose(_ kind: Kind) throws {
        try startFakeDaemon(extra: ["--close-after", "2"])
        let pid = try startAgent(kind, policy: "none", protects: [])
        XCTAssertEqual(Subprocess.waitForExit(pid, timeout: 10), 1)
    }

    private static let lostB1 = #"{"event":"peer_lost","peer":"b1","node":"n2","generation":1,"reason":"host died"}"#

    // MARK: - Processes

    private func startFakeDaemon(checkpoint: String = "null", inject: [(Int, String)] = [], extra: [String] = []) throws {
        let fixture = Self.packageRoot.appendingPathComponent("Tests/fixtures/fake_kithd.py").path
        var arguments = [fixture, "--socket", socketPath, "--record", recordPath, "--token", "secret",
                         "--node", "n3", "--generation", "2", "--checkpoint", checkpoint, "--duration", "30"]
        for (after, event) in inject { arguments += ["--inject", "\(after):\(event)"] }
        let pid = try Subprocess.spawn(Self.python!, arguments + extra,
                                       stdout: directory + "/daemon.out", stderr: directory + "/daemon.err")
        pids.append(pid)
        try waitUntil("the fake daemon listens") { FileManager.default.fileExists(atPath: socketPath) }
    }

    /// Policy as a flag, protected peers and interval from the environment, so both routes are used.
    @discardableResult
    private func startAgent(_ kind: Kind, policy: String, protects: [String], token: String = "secret") throws -> Int32 {
        let environment = [
            "KITH_AGENT": "a1", "KITH_SOCKET": socketPath, "KITH_TOKEN": token, "KITH_NODE": "n3",
            "KITH_GENERATION": "2", "KITH_PROTECTS": protects.joined(separator: ","), "KITH_INTERVAL_MS": "50",
            "KITH_POLICY": "",
        ]
        let executable = kind == .swift ? Self.kithAgent : Self.guardian
        let pid = try Subprocess.spawn(executable, ["--policy", policy], environment: environment,
                                       stdout: directory + "/agent.out", stderr: directory + "/agent.err")
        pids.append(pid)
        return pid
    }

    // MARK: - What the fake daemon recorded

    private func records() throws -> [JSON] {
        guard let data = FileManager.default.contents(atPath: recordPath) else { return [] }
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map { try JSON.parse(String($0)) }
    }

    /// The requests with this op, in the order they arrived.
    private func requests(_ op: String) throws -> [JSON] {
        try records().compactMap { $0["msg"] }.filter { $0["op"]?.stringValue == op }
    }

    /// `send` requests to `peer` whose payload has `key`.
    private func sends(to peer: String, _ key: String) throws -> [JSON] {
        try requests("send").filter { $0["to"]?.stringValue == peer && $0["payload"]?[key] != Optional<JSON>.none }
    }

    private func agentOutput() throws -> String { try String(contentsOfFile: directory + "/agent.out", encoding: .utf8) }
    private func agentError() throws -> String { try String(contentsOfFile: directory + "/agent.err", encoding: .utf8) }

    private func waitUntil(_ what: String, timeout: Double = 10, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            usleep(20_000)
        }
        throw HarnessError("timed out waiting until \(what); files in \(directory)")
    }

    // MARK: - Where things are

    private static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    private static let guardian = packageRoot.appendingPathComponent("deploy/agents/guardian.py").path

    /// The built kith-agent, looked for as `Binaries` looks for kithd.
    private static let kithAgent: String = {
        let runner = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let candidates = [
            URL(fileURLWithPath: runner).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
            packageRoot.appendingPathComponent(".build/debug"),
        ].map { $0.appendingPathComponent("kith-agent").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }()

    private static let python: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
}
