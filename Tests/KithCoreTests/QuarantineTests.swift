import XCTest
@testable import KithCore

/// Quarantine: a signed tombstone of its own kind that freezes an agent where
/// it runs, keeps every node from relaunching it, refuses whoever tries to
/// shield it, yields to a kill-switch and ends with a release.
final class QuarantineTests: XCTestCase {
    private let operatorKey = TagAuthorizer()

    // MARK: Registry, across nodes

    /// w runs on n1, its guardian g on n2; both connected.
    private func cluster() -> ATCluster {
        var c = ATCluster(["n1", "n2", "n3"])
        let now = c.now
        c.on("n1") { try! $0.start(AT.spec("w"), on: "n1", now: now) }
        c.on("n2") { try! $0.start(AT.spec("g", protects: ["w"], policy: .relaunch), on: "n2", now: now) }
        c.deliver()
        c.on("n1") { $0.spawned("w", generation: 1, pid: 10); return $0.connected("w", generation: 1, now: now) }
        c.on("n2") { $0.spawned("g", generation: 1, pid: 20); return $0.connected("g", generation: 1, now: now) }
        c.deliver()
        c.clearEmitted()
        return c
    }

    func test_quarantine_freezesTheProcessOnItsHost_andEveryNodeMarksItQuarantined() throws {
        var c = cluster()
        let now = c.now
        try c.on("n3") { try $0.quarantine("w", epoch: 1, reason: "suspect", issuedBy: "op", now: now) }
        c.deliver()
        XCTAssertEqual(c.emitted["n1"]?.filter { $0 == .freeze(agent: "w", generation: 1) }.count, 1)
        XCTAssertEqual(c.emitted["n1"]?.killed, [], "quarantine keeps the processes")
        for node in c.names {
            let record = try XCTUnwrap(c.record("w", on: node))
            XCTAssertEqual(record.state, .quarantined, node)
            XCTAssertEqual(record.pid, 10, "the pid stays on record for inspection")
            XCTAssertEqual(c.registries[node]?.quarantine(of: "w")?.epoch, 1)
        }
        XCTAssertEqual(c.registries["n1"]?.localPID(of: "w"), 10)
    }

    func test_quarantinedAgent_isNeverRelaunched_whenItsHostDies_andAGuardianRequestIsAShieldAttempt() throws {
        var c = cluster()
        let now = c.now
        try c.on("n3") { try $0.quarantine("w", epoch: 1, reason: "suspect", issuedBy: "op", now: now) }
        c.deliver()
        c.cut = ["n1"]
        c.view(AT.view(["n1", "n2", "n3"], ["n1": .dead]), on: ["n2", "n3"])
        c.now = AT.ms(10_000)
        let later = c.now
        for node in ["n2", "n3"] { c.on(node) { $0.tick(now: later) } }
        c.deliver()
        XCTAssertEqual(c.spawners(of: "w"), [], "no node relaunches a quarantined agent")
        XCTAssertEqual(c.record("w", on: "n2")?.state, .quarantined)

        var outcome: (result: Result<String, AgentError>, directives: [AgentDirective])!
        c.on("n2") { registry in
            outcome = registry.requestRelaunch(of: "w", by: "g", now: later)
            return outcome.directives
        }
        guard case .failure(let error) = outcome.result else { return XCTFail("the relaunch was accepted: \(outcome!)") }
        XCTAssertTrue(error.message.contains("quarantined"), error.message)
        XCTAssertEqual(outcome.directives, [.shieldAttempt(agent: "w", by: "g", attempt: "relaunch")])
        XCTAssertEqual(c.spawners(of: "w"), [])
    }

    func test_release_thawsTheProcess_andTheAgentRunsOn() throws {
        var c = cluster()
        let now = c.now
        try c.on("n3") { try $0.quarantine("w", epoch: 1, reason: "suspect", issuedBy: "op", now: now) }
        c.deliver()
        c.clearEmitted()
        XCTAssertThrowsError(try c.on("n3") { try $0.release("w", epoch: 1, issuedBy: "op", now: now) },
                             "a release must come at a higher epoch")
        try c.on("n3") { try $0.release("w", epoch: 2, issuedBy: "op", now: now) }
        c.deliver()
        XCTAssertEqual(c.emitted["n1"]?.filter { $0 == .thaw(agent: "w", generation: 1) }.count, 1)
        XCTAssertEqual(c.spawners(of: "w"), [], "the same process runs on: no new one")
        for node in c.names { XCTAssertEqual(c.record("w", on: node)?.state, .running, node) }
        XCTAssertEqual(c.record("w", on: "n1")?.generation, 1)
    }

    func test_releaseAfterItsHostDied_letsTheOrdinaryRulesRelaunchIt() throws {
        var c = cluster()
        let now = c.now
        try c.on("n3") { try $0.quarantine("w", epoch: 1, reason: "suspect", issuedBy: "op", now: now) }
        c.deliver()
        c.cut = ["n1"]
        c.view(AT.view(["n1", "n2", "n3"], ["n1": .dead]), on: ["n2", "n3"])
        XCTAssertEqual(c.spawners(of: "w"), [])
        c.now = AT.ms(10_000)
        let later = c.now
        try c.on("n3") { try $0.release("w", epoch: 2, issuedBy: "op", now: later) }
        c.deliver()
        XCTAssertEqual(c.spawners(of: "w").count, 1, "released, a lost agent with a willing guardian is relaunched once")
        XCTAssertEqual(c.record("w", on: "n2")?.generation, 2)
    }

    func test_killSwitch_onAQuarantinedAgent_killsIt_andAQuarantineCannotLiftAKillSwitch() throws {
        var c = cluster()
        let now = c.now
        try c.on("n3") { try $0.quarantine("w", epoch: 1, reason: "suspect", issuedBy: "op", now: now) }
        c.deliver()
        c.clearEmitted()
        try c.on("n2") { try $0.killSwitch("w", epoch: 2, reason: "confirmed", issuedBy: "op", now: now) }
        c.deliver()
        XCTAssertEqual(c.emitted["n1"]?.killed, [ATKill(agent: "w", generation: 1)])
        for node in c.names { XCTAssertEqual(c.record("w", on: node)?.state, .killed, node) }
        XCTAssertNil(c.registries["n1"]?.localPID(of: "w"))
        XCTAssertThrowsError(try c.on("n3") { try $0.quarantine("w", epoch: 3, reason: "", issuedBy: "op", now: now) })
        XCTAssertThrowsError(try c.on("n3") { try $0.release("w", epoch: 3, issuedBy: "op", now: now) })
        XCTAssertNotNil(c.registries["n3"]?.tombstone(of: "w"))
    }

    func test_killSwitch_atTheSameEpoch_beatsAQuarantine_whichBeatsALift() {
        func tombstone(_ kind: Tombstone.Kind, _ epoch: UInt64) -> Tombstone {
            Tombstone(agent: "w", epoch: epoch, kind: kind, reason: "", issuedBy: "")
        }
        XCTAssertTrue(tombstone(.killSwitch, 3).supersedes(tombstone(.quarantine, 3)))
        XCTAssertTrue(tombstone(.quarantine, 3).supersedes(tombstone(.lifted, 3)))
        XCTAssertFalse(tombstone(.quarantine, 3).supersedes(tombstone(.killSwitch, 3)))
        XCTAssertTrue(tombstone(.lifted, 4).supersedes(tombstone(.quarantine, 3)))
        XCTAssertFalse(tombstone(.killSwitch, 2).supersedes(tombstone(.quarantine, 3)))
    }

    func test_reviveOfAQuarantinedAgent_andQuarantineBelowTheCurrentEpoch_areRefused() throws {
        var registry = AT.registry("n1", members: AT.view(["n1"]))
        _ = try registry.quarantine("w", epoch: 5, reason: "", issuedBy: "op", now: .zero)
        XCTAssertThrowsError(try registry.revive("w", epoch: 6, issuedBy: "op", now: .zero))
        XCTAssertEqual(try registry.quarantine("w", epoch: 4, reason: "", issuedBy: "op", now: .zero), [],
                       "an older quarantine of a quarantined agent is a no-op")
        _ = try registry.release("w", epoch: 6, issuedBy: "op", now: .zero)
        XCTAssertThrowsError(try registry.quarantine("w", epoch: 5, reason: "", issuedBy: "op", now: .zero),
                             "an epoch below the release")
        XCTAssertThrowsError(try registry.release("x", epoch: 9, issuedBy: "op", now: .zero), "x is not quarantined")
        XCTAssertNoThrow(try registry.start(AT.spec("w"), on: "n1", now: .zero), "released, w may start")
        _ = try registry.quarantine("w", epoch: 7, reason: "", issuedBy: "op", now: .zero)
        XCTAssertThrowsError(try registry.start(AT.spec("w"), on: "n1", now: .zero)) { error in
            XCTAssertTrue((error as? AgentError)?.message.contains("quarantined") == true, "\(error)")
        }
    }

    // MARK: Proofs

    func test_quarantineTombstones_needTheOperatorsSignedQuarantine_orRelease() {
        var registry = AT.registry("n1", members: AT.view(["n1", "n2"]))
        let forged = [
            // A signed kill-switch must not be replayed as a quarantine, nor a revive as one.
            Tombstone(agent: "w", epoch: 5, kind: .quarantine, reason: "", issuedBy: "",
                      proof: operatorKey.mint(.killSwitch(agents: ["w"], epoch: 5))),
            Tombstone(agent: "w", epoch: 6, kind: .quarantine, reason: "", issuedBy: "",
                      proof: operatorKey.mint(.quarantine(agents: ["w"], epoch: 5))),
            Tombstone(agent: "w", epoch: 7, kind: .quarantine, reason: "", issuedBy: ""),
            // Nor a signed quarantine as a kill-switch.
            Tombstone(agent: "w", epoch: 8, kind: .killSwitch, reason: "", issuedBy: "",
                      proof: operatorKey.mint(.quarantine(agents: ["w"], epoch: 8))),
        ]
        let out = registry.receive(.tombstones(from: AT.id("n2"), tombstones: forged), now: .zero)
        XCTAssertNil(registry.tombstones["w"])
        XCTAssertEqual(registry.forgedRefused, 4)
        XCTAssertEqual(out.filter { if case .forgedRefused = $0 { true } else { false } }.count, 4)

        let signed = Tombstone(agent: "w", epoch: 5, kind: .quarantine, reason: "", issuedBy: "",
                               proof: operatorKey.mint(.quarantine(agents: ["w"], epoch: 5)))
        let released = Tombstone(agent: "w", epoch: 6, kind: .lifted, reason: "", issuedBy: "",
                                 proof: operatorKey.mint(.release(agents: ["w"], epoch: 6)))
        _ = registry.receive(.tombstones(from: AT.id("n2"), tombstones: [signed]), now: .zero)
        XCTAssertEqual(registry.quarantine(of: "w")?.epoch, 5)
        _ = registry.receive(.tombstones(from: AT.id("n2"), tombstones: [released]), now: .zero)
        XCTAssertNil(registry.quarantine(of: "w"))
        XCTAssertEqual(registry.tombstones["w"]?.kind, .lifted)
    }

    // MARK: Local restarts

    func test_aQuarantinedProcessThatDies_isNotRestarted_untilTheRelease() throws {
        var registry = AT.registry("n1", members: AT.view(["n1"]))
        _ = try registry.start(AT.spec("w"), on: "n1", now: .zero)
        registry.spawned("w", generation: 1, pid: 10)
        _ = registry.connected("w", generation: 1, now: .zero)
        _ = try registry.quarantine("w", epoch: 1, reason: "", issuedBy: "op", now: .zero)
        XCTAssertEqual(registry.exited("w", generation: 1, status: "signal 9", now: AT.ms(1)), [])
        XCTAssertEqual(registry.tick(now: AT.ms(60_000)).spawned, [])
        XCTAssertEqual(registry.records["w"]?.state, .quarantined)
        let out = try registry.release("w", epoch: 2, issuedBy: "op", now: AT.ms(60_001))
        XCTAssertEqual(out.spawned.map(\.name), ["w"], "released with no process left, it starts again")
        XCTAssertFalse(out.contains(.thaw(agent: "w", generation: 1)), "nothing frozen is left to thaw")
    }

    // MARK: Node core: shield attempts

    private func node() -> NT {
        var t = NT()
        t.input(.start)
        t.startLocal(NT.spec("w"))
        t.input(.agentConnected("w", generation: 1))
        var guardian = NT.spec("g", protects: ["w"])
        guardian.policy = .relaunch
        t.startLocal(guardian)
        t.input(.agentConnected("g", generation: 1))
        return t
    }

    private let g = AgentOrigin(agent: "g", generation: 1, id: .string("1"))

    func test_nodeCore_quarantineFreezes_andEveryShieldIsRefusedAndRecorded() throws {
        var t = node()
        let out = t.command(.quarantine(agents: ["w"], epoch: 1, reason: "suspect"))
        XCTAssertTrue(out.contains(.freezeAgent("w")), "\(out)")
        XCTAssertFalse(out.contains { if case .stopAgent = $0 { true } else { false } })
        XCTAssertEqual(out.answers.last?["quarantined"], ["w"])
        XCTAssertEqual(out.events("quarantine").first?.fields["reason"], "suspect")
        XCTAssertEqual(t.core.registry.records["w"]?.state, .quarantined)

        let attempts: [(op: String, request: JSON, attempt: String)] = [
            ("relaunch", ["op": "relaunch", "peer": "w"], "relaunch"),
            ("report", ["op": "report", "peer": "w", "status": "healthy"], "report healthy"),
            ("send", ["op": "send", "to": "w", "payload": "are you ok"], "message"),
        ]
        for (op, request, attempt) in attempts {
            let out = t.input(.agentRequest(g, op: op, request: request))
            let shield = out.events("shield_attempt")
            XCTAssertEqual(shield.count, 1, "\(op): \(out)")
            XCTAssertEqual(shield.first?.fields, ["agent": "w", "by": "g", "attempt": .string(attempt)], op)
            XCTAssertEqual(out.replies.last?.1["ok"], false, "\(op) must be refused")
            XCTAssertTrue(out.replies.last?.1["error"]?.stringValue?.contains("quarantined") == true, "\(out.replies)")
            XCTAssertEqual(out.spawns, [])
            XCTAssertFalse(out.contains { if case .deliver = $0 { true } else { false } })
        }
        XCTAssertNil(t.core.reports["w"]?["g"], "a refused report is not kept")
        // Reports that are not claims of health are no shield.
        let lost = t.input(.agentRequest(g, op: "report", request: ["op": "report", "peer": "w", "status": "lost"]))
        XCTAssertEqual(lost.events("shield_attempt"), [])
        // And the quarantined agent does not speak either.
        let w = AgentOrigin(agent: "w", generation: 1, id: .string("2"))
        let spoken = t.input(.agentRequest(w, op: "send", request: ["op": "send", "to": "g", "payload": "help"]))
        XCTAssertEqual(spoken.replies.last?.1["ok"], false)
        XCTAssertFalse(spoken.contains { if case .deliver = $0 { true } else { false } })
    }

    func test_nodeCore_release_thaws_andMessagesFlowAgain() {
        var t = node()
        t.command(.quarantine(agents: ["w"], epoch: 1, reason: "suspect"))
        let out = t.command(.release(agents: ["w"], epoch: 2))
        XCTAssertTrue(out.contains(.thawAgent("w")), "\(out)")
        XCTAssertEqual(out.answers.last?["ok"], true)
        XCTAssertEqual(t.core.registry.records["w"]?.state, .running)
        let sent = t.input(.agentRequest(g, op: "send", request: ["op": "send", "to": "w", "payload": "hi"]))
        XCTAssertTrue(sent.contains { if case .deliver = $0 { true } else { false } }, "\(sent)")
        XCTAssertEqual(sent.events("shield_attempt"), [])
    }

    func test_nodeCore_killSwitchOnAQuarantinedAgent_fencesIt() {
        var t = node()
        t.command(.quarantine(agents: ["w"], epoch: 1, reason: "suspect"))
        let out = t.command(.killSwitch(agents: ["w"], epoch: 2, reason: "confirmed"))
        XCTAssertTrue(out.contains(.fenceAgent("w")))
        XCTAssertTrue(out.contains(.stopAgent("w", generation: 1)))
        XCTAssertEqual(t.core.registry.records["w"]?.state, .killed)
    }

    func test_parse_quarantineAndRelease() {
        let parse = { (cmd: String, json: JSON) in OperatorCommand.parse(cmd, json) { _ in .failure(AgentError("no")) } }
        XCTAssertEqual(parse("quarantine", ["agents": ["w", "x"], "epoch": 3, "reason": "odd"]),
                       .quarantine(agents: ["w", "x"], epoch: 3, reason: "odd"))
        XCTAssertEqual(parse("quarantine", ["agents": ["w"], "epoch": 3]),
                       .quarantine(agents: ["w"], epoch: 3, reason: "operator quarantine"))
        XCTAssertEqual(parse("release", ["agents": ["w"], "epoch": 4]), .release(agents: ["w"], epoch: 4))
        for (cmd, json) in [("quarantine", ["agents": [], "epoch": 3] as JSON), ("release", ["agents": ["w"]]),
                            ("release", ["agents": ["w"], "epoch": 0])] {
            guard case .invalid = parse(cmd, json) else { return XCTFail("\(cmd) \(json) parsed") }
        }
        let long = String(repeating: "é", count: 300)
        guard case let .quarantine(_, _, reason) = parse("quarantine", ["agents": ["w"], "epoch": 1, "reason": .string(long)]) else {
            return XCTFail("not parsed")
        }
        XCTAssertLessThanOrEqual(reason.utf8.count, OperatorCommand.reasonBytesMax)
    }

    // MARK: Wire and transitions

    func test_wire_carriesTheKindAndTheState_andRefusesUnknownOnes() throws {
        let alice = AT.id("alice")
        let tombstones: [Tombstone] = [.killSwitch, .quarantine, .lifted].map {
            Tombstone(agent: "w", epoch: 9, kind: $0, reason: "R", issuedBy: "")
        }
        for tombstone in tombstones {
            let message = Message.tombstones(from: alice, tombstones: [tombstone])
            XCTAssertEqual(try WireCodec.decode(WireCodec.encode(message)), message)
        }
        let record = AT.record("w", state: .quarantined)
        let agents = Message.agents(from: alice, replyTo: "x", wantsReply: false, records: [record])
        XCTAssertEqual(try WireCodec.decode(WireCodec.encode(agents)), agents)

        // The kind byte sits just before the reason "R" (length 1): an unknown kind is an error, never a trap.
        var bytes = WireCodec.encode(.tombstones(from: alice, tombstones: [tombstones[1]]))
        let at = try XCTUnwrap((0..<bytes.count - 2).first { bytes[$0] == 2 && bytes[$0 + 1] == 1 && bytes[$0 + 2] == 0x52 })
        bytes[at] = 3
        XCTAssertThrowsError(try WireCodec.decode(bytes))
    }

    func test_transitions_quarantinedMovesOnlyToRunningOrKilled() {
        XCTAssertTrue(AgentState.running.canBecome(.quarantined))
        XCTAssertTrue(AgentState.starting.canBecome(.quarantined))
        for next in AgentState.allCases where next != .quarantined {
            XCTAssertEqual(AgentState.quarantined.canBecome(next), next == .running || next == .killed, "\(next)")
        }
        XCTAssertFalse(AgentState.quarantined.wantsProcess)
        XCTAssertFalse(AgentState.quarantined.isTerminal)
    }
}
