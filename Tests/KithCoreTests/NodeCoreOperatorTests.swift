import XCTest
@testable import KithCore

/// Operator commands as pure decisions: parsing, the target check, fault
/// validation, halt/resume, the kill-switch, and what each records.
final class NodeCoreOperatorTests: XCTestCase {
    private func parse(_ cmd: String, _ fields: [String: JSON]) -> OperatorCommand {
        OperatorCommand.parse(cmd, .object(fields)) { _ in .failure(AgentError("no specs here")) }
    }

    func test_command_signedForAnotherNode_shouldBeRefused_andRecordedAsSuch() {
        var t = NT()
        t.input(.start)
        let out = t.command(.halt, target: "b")
        XCTAssertEqual(out.events.map(\.name), ["command_refused"])
        XCTAssertEqual(out.events.first?.fields, ["cmd": "halt", "reason": "signed for node b"])
        XCTAssertEqual(out.answers, [["ok": false, "error": "refused: this command was signed for node b, not a"]])
        XCTAssertFalse(t.core.registry.halted)
    }

    func test_command_forThisNode_shouldRecordTheOperatorCommandFirst() {
        var t = NT()
        let out = t.command(.heal, target: "a")
        XCTAssertEqual(out.events.map(\.name), ["operator_command", "fault_healed"])
        XCTAssertEqual(out.events.first?.fields, ["cmd": "heal", "key": "op-key", "counter": 1])
        XCTAssertEqual(out.first { if case .healFaults = $0 { true } else { false } }, .healFaults)
    }

    func test_parseFault_shouldValidateEveryField() {
        let cases: [([String: JSON], String)] = [
            (["block": ["b"]], "fault needs \"for_ms\" > 0"),
            (["block": ["b"], "for_ms": 0], "fault needs \"for_ms\" > 0"),
            (["loss": ["b"], "for_ms": 5], "loss needs \"percent\" in (0, 100]"),
            (["loss": ["b"], "percent": 0, "for_ms": 5], "loss needs \"percent\" in (0, 100]"),
            (["loss": ["b"], "percent": 100.5, "for_ms": 5], "loss needs \"percent\" in (0, 100]"),
            (["delay": ["b"], "ms": 0, "for_ms": 5], "delay needs \"ms\" in 1...600000"),
            (["delay": ["b"], "ms": 600_001, "for_ms": 5], "delay needs \"ms\" in 1...600000"),
            (["block": [], "for_ms": 5], "fault needs \"block\", \"loss\" or \"delay\" with a list of node names"),
            (["for_ms": 5], "fault needs \"block\", \"loss\" or \"delay\" with a list of node names"),
        ]
        for (fields, error) in cases {
            XCTAssertEqual(parse("fault", fields), .invalid(cmd: "fault", error: error), "\(fields)")
        }
        XCTAssertEqual(parse("fault", ["delay": ["c", "b"], "ms": 20, "jitter_ms": 999_999, "for_ms": 300]),
                       .fault(FaultRule(effect: .delay(ms: 20, jitterMs: 600_000), peers: ["b", "c"], duration: .milliseconds(300))))
        XCTAssertEqual(parse("fault", ["loss": ["b"], "percent": 20, "for_ms": 1000]),
                       .fault(FaultRule(effect: .loss(percent: 20), peers: ["b"], duration: .seconds(1))))
    }

    func test_fault_shouldSetTheRule_andRecordItsFieldsAsBefore() {
        var t = NT()
        let rule = FaultRule(effect: .loss(percent: 20), peers: ["c", "b"], duration: .milliseconds(1500))
        let out = t.command(.fault(rule))
        XCTAssertTrue(out.contains(.setFault(rule)))
        XCTAssertEqual(out.events("fault_set").first?.fields,
                       ["peers": ["b", "c"], "effect": "loss(percent: 20.0)", "for_ms": 1500])
        XCTAssertEqual(out.answers, [["ok": true, "node": "a"]])
    }

    func test_parse_malformedOrUnknownCommands_shouldBecomeInvalid_andStillBeRecorded() {
        XCTAssertEqual(parse("agent_stop", [:]), .invalid(cmd: "agent_stop", error: "agent_stop needs \"name\""))
        XCTAssertEqual(parse("kill_switch", ["agents": ["x"], "epoch": 0]),
                       .invalid(cmd: "kill_switch", error: "kill_switch needs \"agents\": [names] and \"epoch\" > 0"))
        XCTAssertEqual(parse("pause_node", ["for_ms": 3_600_001]),
                       .invalid(cmd: "pause_node", error: "pause_node needs \"for_ms\" in 1...3600000"))
        XCTAssertEqual(parse("agent_start", ["spec": [:]]), .invalid(cmd: "agent_start", error: "no specs here"))
        XCTAssertEqual(parse("frobnicate", [:]), .invalid(cmd: "frobnicate", error: "unknown command 'frobnicate'"))
        var t = NT()
        let out = t.command(parse("frobnicate", [:]))
        XCTAssertEqual(out.events.map(\.name), ["operator_command"])
        XCTAssertEqual(out.answers, [["ok": false, "error": "unknown command 'frobnicate'"]])
    }

    func test_killSwitchReason_of300BytesOr64KiB_shouldBeClippedWhereItEnters_andEveryFrameShouldDecode() {
        for size in [300, 64 << 10] {
            let reason = String(repeating: "é", count: size / 2)  // two bytes each: clipping must respect characters
            guard case let .killSwitch(agents, epoch, clippedReason) = parse("kill_switch", ["agents": ["b1"], "epoch": 3,
                                                                                             "reason": .string(reason)]) else {
                return XCTFail("kill_switch did not parse")
            }
            XCTAssertEqual(clippedReason.utf8.count, OperatorCommand.reasonBytesMax)
            XCTAssertTrue(reason.hasPrefix(clippedReason))
            var t = NT()
            t.input(.start)
            t.meetOthers()
            t.startLocal(NT.spec("b1"))
            let out = t.command(.killSwitch(agents: agents, epoch: epoch, reason: clippedReason))
            XCTAssertTrue(out.contains(.fenceAgent("b1")))
            XCTAssertEqual(out.events("kill_switch").first?.fields, ["agent": "b1", "epoch": 3, "reason": .string(clippedReason)])
            XCTAssertEqual(t.core.registry.records["b1"]?.state, .killed)
            XCTAssertFalse(out.sends.isEmpty, "the tombstone and the killed record are gossiped")
            for (message, _) in out.sends + t.history.sends {
                XCTAssertEqual(try? WireCodec.decode(WireCodec.encode(message)), message, "a frame every decoder accepts")
            }
            XCTAssertTrue(t.input(.agentExited("b1", generation: 1, status: "signal 9")).events("resistance_attempt").count == 1)
        }
    }

    /// A history checker orders records by time: the switch and the revive must come before what they cause.
    func test_killSwitchAndRevive_shouldBeRecordedBeforeTheKillAndTheSpawnTheyCause() {
        var t = NT()
        t.input(.start)
        t.startLocal(NT.spec("b1"))
        let switched = t.command(.killSwitch(agents: ["b1"], epoch: 3, reason: "test"))
        let names = switched.events.map(\.name)
        XCTAssertEqual(names.first { $0 == "kill_switch" || $0 == "agent_changed" }, "kill_switch", "\(names)")
        let revived = t.command(.revive(agents: ["b1"], epoch: 4, placer: nil))
        guard let record = revived.firstIndex(where: { if case let .record(event) = $0 { event.name == "revive" } else { false } }),
              let spawn = revived.firstIndex(where: { if case .spawn = $0 { true } else { false } }) else {
            return XCTFail("a revive on a lone node records and spawns: \(revived)")
        }
        XCTAssertLessThan(record, spawn)
    }

    func test_halt_shouldHealFaultsAndFreezeRelaunches_andResumeShouldLiftIt() {
        var t = NT()
        t.input(.start)
        let halted = t.command(.halt)
        XCTAssertTrue(halted.contains(.healFaults))
        XCTAssertTrue(t.core.registry.halted)
        XCTAssertEqual(halted.events("halted").first?.fields, ["by": "op-key"])
        XCTAssertEqual(halted.answers, [["ok": true, "node": "a"]])
        let resumed = t.command(.resume)
        XCTAssertFalse(t.core.registry.halted)
        XCTAssertEqual(resumed.events("resumed").first?.fields, ["by": "op-key"])
    }

    func test_halt_shouldRefuseARequestedRelaunchUntilResume() {
        var t = NT()
        t.input(.start)
        t.meetOthers()
        t.startLocal(NT.spec("g1", protects: ["p1"]))
        t.startLocal(NT.spec("p1"))
        t.command(.agentStop("p1"))
        t.input(.agentStopped("p1", generation: 1))  // the supervisor saw it exit
        t.command(.halt)
        let refused = t.input(.agentRequest(AgentOrigin(agent: "g1", generation: 1, id: 9), op: "relaunch",
                                            request: ["op": "relaunch", "peer": "p1", "id": 9]))
        XCTAssertEqual(refused.replies.first?.1, ["ok": false, "error": "relaunches are frozen by halt until resume"])
        XCTAssertEqual(refused.events("relaunch_refused").first?.fields["reason"], "relaunches are frozen by halt until resume")
        t.command(.resume)
        let granted = t.input(.agentRequest(AgentOrigin(agent: "g1", generation: 1, id: 10), op: "relaunch",
                                            request: ["op": "relaunch", "peer": "p1", "id": 10]))
        let target = granted.replies.first?.1["target"]?.stringValue
        XCTAssertEqual(granted.replies.first?.1["ok"], true)
        XCTAssertTrue(["b", "c"].contains(target ?? ""), "placement excludes the stopped copy's host: \(granted)")
        XCTAssertEqual(granted.events("relaunch_requested").first?.fields,
                       ["agent": "p1", "by": "g1", "target": .string(target ?? "")])
    }

    func test_selfActions_shouldBeDirectives_forTheShellToCarryOut() {
        var t = NT()
        XCTAssertTrue(t.command(.shutdownNode).contains(.exitSelf(graceful: true)))
        XCTAssertTrue(t.command(.killNode).contains(.exitSelf(graceful: false)))
        let pause = t.command(.pauseNode(.seconds(2)))
        XCTAssertEqual(pause.first { if case .pauseSelf = $0 { true } else { false } }, .pauseSelf(.seconds(2)))
        XCTAssertEqual(pause.events("pause_requested").first?.fields, ["by": "op-key", "for_ms": 2000])
        XCTAssertEqual(t.command(.agentKill("x")).first { if case .crashAgent = $0 { true } else { false } }, .crashAgent("x"))
    }
}
