import Foundation
import Glibc
import KithCore
import KithControl
import KithCrypto
import KithUV
import XCTest
@testable import KithNode

/// The golden trace: a real `Node` on a real loop (ports on 127.0.0.1, a
/// real agent process, real timers, refused connections) records every
/// input it fed its core; the same inputs fed to a fresh `NodeCore`, as the
/// simulator feeds them, give the same directives, and the event log holds
/// exactly the events those directives asked for, in order.
final class NodeGoldenTraceTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        Sodium.ensureInitialized()
        var template = Array("/tmp/kithtrace-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw XCTSkip("mkdtemp failed") }
        directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    override func tearDown() {
        _ = try? run("/bin/rm", ["-rf", directory])
    }

    private func run(_ path: String, _ args: [String]) throws -> Int32 {
        var pid: pid_t = 0
        let argv = ([path] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, path, nil, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return status
    }

    private struct Step {
        var input: NodeInput
        var now: Instant
        var directives: [NodeDirective]
    }

    func test_aRealNode_andABareNodeCore_givenTheSameInputs_shouldGiveTheSameDirectives() throws {
        let operatorKey = SigningKey.generate()
        var config = NodeConfig()
        config.name = "g1"
        config.listen = "127.0.0.1:0"
        config.control = "127.0.0.1:0"
        config.dataDir = directory
        config.operatorKeys = [Hex.encode(operatorKey.publicKey)]
        config.agents = [AgentSpec(name: "cfg1", command: "/bin/sleep", args: ["30"])]
        let loop = try EventLoop()
        let logger = Logger(level: .error, clock: { 0 }, sink: { _ in })
        let node = try Node(config: config, loop: loop, logger: logger, uid: 0xABC_DEF, randomSeed: 42)
        var trace: [Step] = []
        node.onInput = { input, now, directives in trace.append(Step(input: input, now: now, directives: directives)) }
        let initial = node.core

        var counter: UInt64 = 0
        func signed(_ cmd: String, _ fields: [String: JSON]) -> JSON {
            counter += 1
            var request = fields
            request["cmd"] = .string(cmd)
            request["cluster"] = .string(config.cluster)
            request["expires_ms"] = .int(Int64(Date().timeIntervalSince1970 * 1000) + 30_000)
            request["auth"] = ["key": .string(Hex.encode(operatorKey.publicKey)), "counter": .int(Int64(counter)), "nonce": "n"]
            var auth = request["auth"]!.objectValue!
            auth["sig"] = .string(Hex.encode(operatorKey.sign(OperatorRequest.signedBytes(of: .object(request)))))
            request["auth"] = .object(auth)
            return .object(request)
        }
        var answers: [String: JSON] = [:]
        func command(_ cmd: String, _ fields: [String: JSON] = [:]) {
            answers[cmd] = node.answer(cmd, signed(cmd, fields))
        }
        let stranger = NodeID(name: "p2", uid: 7)
        let script: [(UInt64, () -> Void)] = [
            (50, { command("agent_start", ["spec": ["name": "w1", "command": "/bin/sleep", "args": ["30"]], "on": "g1"]) }),
            (100, { command("fault", ["loss": ["zz"], "percent": 50, "for_ms": 1000]) }),
            // A member nobody listens for: frames to it are refused by the kernel, a real `peerRefused`.
            (150, { node.transport.onMessage?(.pushPull(from: stranger, replyTo: "127.0.0.1:1", isReply: true, isJoin: false,
                                                        states: [MemberState(id: stranger, meta: NodeMeta(endpoint: "127.0.0.1:1",
                                                                                                      key: [UInt8](repeating: 2, count: 32)),
                                                                             status: .alive, incarnation: 0)])) }),
            (200, { command("send", ["to": "w1", "text": "hello"]) }),
            (250, { command("kill_switch", ["agents": ["w1"], "epoch": 1, "reason": .string(String(repeating: "r", count: 300))]) }),
            (300, { command("halt") }),
            (350, { command("resume") }),
            (400, { command("heal", ["target": "elsewhere"]) }),
            (1900, { command("agent_stop", ["name": "cfg1"]) }),
            (2000, { node.shutdown { loop.stop() } }),
        ]
        var timers: [KithUV.Timer] = []
        for (ms, action) in script {
            let timer = KithUV.Timer(loop: loop)
            timer.start(afterMilliseconds: ms) { action() }
            timers.append(timer)
        }
        let deadline = KithUV.Timer(loop: loop)
        var timedOut = false
        deadline.start(afterMilliseconds: 8000) { timedOut = true; loop.stop() }
        node.start()
        loop.run()
        for _ in 0..<5 {
            loop.closeAll()
            loop.run()
        }
        XCTAssertFalse(timedOut, "the node did not shut down in time")

        // The node did what the scenario needs: a real spawn, a refusal, the config agent, a fence.
        let inputs = trace.map(\.input)
        let directives = trace.flatMap(\.directives)
        XCTAssertTrue(inputs.contains { if case .agentSpawned("w1", _, let pid) = $0 { pid > 0 } else { false } }, "\(inputs)")
        XCTAssertTrue(inputs.contains { if case .peerRefused("127.0.0.1:1") = $0 { true } else { false } })
        XCTAssertTrue(inputs.contains(.tick))
        XCTAssertTrue(directives.contains(.fenceAgent("w1")))
        XCTAssertTrue(directives.contains { if case .spawn(let record, _) = $0 { record.name == "cfg1" } else { false } })
        XCTAssertEqual(answers["kill_switch"]?["ok"], true)
        XCTAssertEqual(answers["heal"]?["ok"], false, "signed for another node")
        XCTAssertEqual(answers["send"]?["ok"], true, "held or delivered")

        // Replay: the same inputs at the same instants into a bare core.
        var core = NodeCore(me: initial.me, meta: Node.meta(config), settings: Node.coreSettings(config),
                            authorizer: SignedRequestAuthorizer(trusted: config.operatorKeys, cluster: config.cluster),
                            nodeVerifier: node.core.membership.verifier, randomSeed: 42, now: initial.startedAt)
        for (k, step) in trace.enumerated() {
            let replayed = core.handle(step.input, now: step.now)
            guard replayed == step.directives else {
                return XCTFail("input \(k) \(step.input) at \(step.now): the node's core gave \(step.directives), a bare core \(replayed)")
            }
        }

        // Carried out: every recorded event directive is in the event log, with its fields, in order.
        let wanted = directives.compactMap { directive -> NodeEvent? in
            if case .record(let event) = directive, event.recorded { return event } else { return nil }
        }
        let names = Set(wanted.map(\.name))
        let logged = node.events.lines(sinceMs: nil, limit: 100_000).compactMap { try? JSON.parse($0) }
            .filter { names.contains($0["event"]?.stringValue ?? "") }
        XCTAssertEqual(logged.count, wanted.count, "events logged: \(logged.map { $0["event"] ?? .null })")
        for (event, line) in zip(wanted, logged) {
            XCTAssertEqual(line["event"]?.stringValue, event.name)
            for (key, value) in event.fields { XCTAssertEqual(line[key], value, "\(event.name).\(key)") }
        }
        XCTAssertEqual(wanted.first { $0.name == "kill_switch" }?.fields["reason"]?.stringValue?.utf8.count,
                       OperatorCommand.reasonBytesMax, "the reason is clipped where it enters")
        _ = timers
    }
}
