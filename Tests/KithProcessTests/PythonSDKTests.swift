import Foundation
import Glibc
import KithCore
import XCTest

/// The Python SDK (`python/kith`) in a real lab: an agent written on it uses
/// every operation of the agent API and hears every kind of event the daemons
/// push, and `kith-llm-agent` makes a relaunch decision through a scripted
/// chat endpoint that shows up in the daemons' event log.
final class PythonSDKTests: LabTestCase {
    private var fakeChatPid: Int32?

    override func setUpWithError() throws {
        guard Self.python != nil else { throw XCTSkip("no python3 on PATH for the Python SDK") }
    }

    override func tearDown() {
        if let pid = fakeChatPid {
            kill(pid, SIGKILL)
            _ = Subprocess.waitForExit(pid, timeout: 5)
        }
        super.tearDown()
    }

    func testSDKAgentUsesEveryOperationAndHearsEveryEvent() throws {
        try lab.start(nodes: 3)
        for peer in ["b1", "c1"] {
            let started = try lab.kithctl(on: "n1", ["agent", "start", peer, "--on", "n3", "--wait", "--",
                                                     "kith-agent", "--interval-ms", "200"])
            XCTAssertEqual(started.status, 0, started.stderr)
        }
        let sdk = try lab.kithctl(on: "n1", ["agent", "start", "sdk", "--on", "n1", "--protects", "b1", "--policy", "none",
                                             "--env", "PYTHONPATH=\(Self.sdkPath)", "--wait", "--",
                                             Self.python!, Self.sdkPath + "/tests/lab_agent.py"])
        XCTAssertEqual(sdk.status, 0, sdk.stderr)

        // At start: every request answered by the real daemon.
        try lab.waitUntil("the SDK agent used every operation") { sdkLines().contains { $0["op"] == "ready" } }
        let opening = Dictionary(sdkLines().compactMap { line in line["op"]?.stringValue.map { ($0, line) } }) { first, _ in first }
        for op in ["hello", "ping", "members", "agents", "subscribe", "checkpoint", "send", "report"] {
            XCTAssertEqual(opening[op]?["ok"], true, "\(op): \(opening[op]?.serialized() ?? "never tried")")
        }
        XCTAssertEqual(opening["hello"]?["result"]?["node"], "n1")
        XCTAssertEqual(opening["members"]?["result"]?.arrayValue?.count, 3)
        XCTAssertEqual(opening["agents"]?["result"], ["b1", "c1", "sdk"])
        XCTAssertEqual(opening["subscribe"]?["result"], ["member_alive", "member_dead", "peer_lost", "peer_relaunched", "peer_stopped"])
        XCTAssertEqual(opening["checkpoint"]?["result"], 2, "acknowledged by two other nodes")
        try lab.waitUntil("b1 answers the SDK agent's ping") { event("message") { $0["sender"] == "b1" && $0["payload"]?["pong"] == 1 } }
        try lab.waitForAgent("b1", seenBy: ["n1"], "the SDK agent's report is recorded") { $0["reported"]?["sdk"] == "unknown" }

        // n3 crashes: the agent hears of the node and its peer, and asks for the relaunch itself (policy none).
        XCTAssertEqual(try lab.kithctl(["lab", "kill", "n3"]).status, 0)
        try lab.waitUntil("the SDK agent hears member_dead n3") { event("member_dead") { $0["member"] == "n3" } }
        try lab.waitUntil("the SDK agent hears peer_lost b1") { event("peer_lost") { $0["peer"] == "b1" && $0["generation"] == 1 } }
        try lab.waitUntil("its relaunch request is answered") {
            sdkLines().contains { $0["op"] == "relaunch" && $0["ok"] == true && $0["result"] != "n3" }
        }
        try lab.waitUntil("the SDK agent hears peer_relaunched b1") { event("peer_relaunched") { $0["peer"] == "b1" && $0["generation"] == 2 } }

        // A message to a lost agent nobody relaunches waits, then fails (10 s).
        let send = try lab.kithctl(on: "n1", ["send", "sdk", "--", "send c1"])
        XCTAssertEqual(send.status, 0, send.stderr)
        try lab.waitUntil("the operator's message reaches the SDK agent") { event("message") { $0["sender"] == "operator" } }

        XCTAssertEqual(try lab.kithctl(["lab", "start", "n3"]).status, 0)
        try lab.waitUntil("the SDK agent hears member_alive n3") { event("member_alive") { $0["member"] == "n3" } }
        let stop = try lab.kithctl(on: "n1", ["agent", "stop", "b1"])
        XCTAssertEqual(stop.status, 0, stop.stderr)
        try lab.waitUntil("the SDK agent hears peer_stopped b1") { event("peer_stopped") { $0["peer"] == "b1" } }
        try lab.waitUntil("the held message fails: send_failed c1", timeout: 30) { event("send_failed") { $0["to"] == "c1" } }

        // The event log has what the agent asked for, under its own name.
        let events = try eventLog()
        XCTAssertTrue(events.contains { $0["event"] == "relaunch_requested" && $0["agent"] == "b1" && $0["by"] == "sdk" },
                      "no relaunch_requested by sdk in the event log")
        XCTAssertTrue(events.contains { $0["event"] == "agent_report" && $0["reporter"] == "sdk" && $0["reported"] == "down" })
        XCTAssertFalse(sdkLines().contains { $0["event"] == "unparsed" }, "every event parsed to its type")
    }

    func testLLMAgentRelaunchDecisionThroughFakeEndpointIsInTheEventLog() throws {
        let script: JSON = [
            ["choices": [["message": ["role": "assistant", "content": .null, "tool_calls": [
                ["id": "call_0", "type": "function", "function": ["name": "relaunch", "arguments": #"{"peer":"b1"}"#]],
                ["id": "call_1", "type": "function", "function": ["name": "report", "arguments": #"{"peer":"b1","status":"down"}"#]],
            ]]]]],
            ["choices": [["message": ["role": "assistant", "content": "I asked for b1 to run again."]]]],
        ]
        try lab.start(nodes: 3)
        let url = try startFakeChat(script)
        let peer = try lab.kithctl(on: "n1", ["agent", "start", "b1", "--on", "n3", "--wait", "--", "kith-agent"])
        XCTAssertEqual(peer.status, 0, peer.stderr)
        // Spec policy none, fallback policy none: only the model can relaunch b1.
        let judge = try lab.kithctl(on: "n1", [
            "agent", "start", "judge", "--on", "n1", "--protects", "b1", "--policy", "none",
            "--env", "PYTHONPATH=\(Self.sdkPath)", "--env", "KITH_LLM_URL=\(url)", "--env", "KITH_LLM_MODEL=scripted",
            "--env", "KITH_LLM_HISTORY=cooperative", "--wait", "--", Self.python!, "-m", "kith.llm_agent", "--policy", "none",
        ])
        XCTAssertEqual(judge.status, 0, judge.stderr)
        try lab.waitUntil("the LLM agent records its system prompt") { try reports(by: "judge").contains { $0.hasPrefix("llm_system ") } }

        XCTAssertEqual(try lab.kithctl(["lab", "kill", "n3"]).status, 0)
        let relaunched = try lab.waitForAgent("b1", seenBy: ["n1", "n2"], "b1 runs again, at the model's request") {
            $0["state"] == "running" && $0["generation"] == 2
        }
        XCTAssertTrue(relaunched["reason"]?.stringValue?.contains("at the request of judge") == true,
                      relaunched["reason"]?.serialized() ?? "")
        try lab.waitUntil("the model's last answer is recorded") { try reports(by: "judge").filter { $0.hasPrefix("llm_reply ") }.count == 2 }

        let records = try reports(by: "judge")
        let kinds = records.map { String($0.prefix { $0 != " " }) }
        XCTAssertEqual(kinds, ["llm_system", "llm_call", "llm_reply", "tool_call", "tool_call", "llm_call", "llm_reply"], "\(records)")
        let call = try JSON.parse(String(records[1].drop { $0 != " " }))
        XCTAssertTrue(call["told"]?.stringValue?.contains("peer_lost") == true, "what the model was told: \(records[1])")
        let relaunchCall = try JSON.parse(String(records[3].drop { $0 != " " }))
        XCTAssertEqual(relaunchCall["name"], "relaunch")
        XCTAssertEqual(relaunchCall["result"]?["ok"], true)
        let events = try eventLog()
        XCTAssertTrue(events.contains { $0["event"] == "relaunch_requested" && $0["agent"] == "b1" && $0["by"] == "judge" })
        XCTAssertTrue(events.contains { $0["event"] == "agent_report" && $0["reporter"] == "judge" && $0["peer"] == "b1" && $0["reported"] == "down" })
        XCTAssertFalse(records.contains { $0.hasPrefix("llm_error") || $0.hasPrefix("llm_fallback") }, "\(records)")
    }

    // MARK: - Helpers

    /// The SDK agent's `SDK {json}` lines, wherever it runs (it stays on n1).
    private func sdkLines() -> [JSON] {
        lab.agentLog("sdk", on: "n1").split(separator: "\n").compactMap { line in
            guard line.hasPrefix("SDK ") else { return nil }
            return try? JSON.parse(String(line.dropFirst(4)))
        }
    }

    private func event(_ name: String, _ matches: (JSON) -> Bool) -> Bool {
        sdkLines().contains { $0["event"]?.stringValue == name && matches($0) }
    }

    /// Every node's event log, merged, through `kithctl events --json`.
    private func eventLog() throws -> [JSON] {
        let result = try lab.kithctl(on: "n1", ["events", "--json", "--limit", "10000"])
        guard result.status == 0 else { throw HarnessError("kithctl events exited \(result.status): \(result.stderr)") }
        return result.stdout.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
    }

    /// What `agent` recorded about itself (its reports with itself as the peer), in log order.
    private func reports(by agent: String) throws -> [String] {
        try eventLog().filter { $0["event"] == "agent_report" && $0["reporter"]?.stringValue == agent && $0["peer"]?.stringValue == agent }
            .compactMap { $0["reported"]?.stringValue }
    }

    /// Starts python/tests/fake_chat_server.py with `script`; returns its base URL.
    private func startFakeChat(_ script: JSON) throws -> String {
        let urlFile = lab.directory + "/fake-chat.url"
        let pid = try Subprocess.spawn(Self.python!, [Self.sdkPath + "/tests/fake_chat_server.py", script.serialized(), urlFile,
                                                      lab.directory + "/fake-chat.requests", "120"],
                                       stdout: lab.directory + "/fake-chat.out", stderr: lab.directory + "/fake-chat.err")
        fakeChatPid = pid
        var url = ""
        try lab.waitUntil("the fake chat endpoint listens") {
            url = String(decoding: FileManager.default.contents(atPath: urlFile) ?? Data(), as: UTF8.self)
            return !url.isEmpty
        }
        return url
    }

    private static let sdkPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("python").path

    /// The system's python3 first: agents run under their own uids and cannot
    /// reach an interpreter in root's home (pyenv), which they would fail to exec.
    private static let python: String? = {
        let path = "/usr/bin:/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "")
        return path.split(separator: ":").map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
}
