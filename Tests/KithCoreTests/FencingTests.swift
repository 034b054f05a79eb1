import XCTest
@testable import KithCore

/// One copy at a time in the registry and the node core: a stopped agent
/// waits for its host to see the old process exit, a node that may have been
/// declared dead fences its copies first, and stale checkpoints are dropped.
final class AgentFencingTests: XCTestCase {
    /// w on n1 stopped by n3, with a relaunching guardian g on n2.
    private func stoppedUnderGuardians() throws -> ATCluster {
        var cluster = ATCluster(AT.nodes(3))
        try cluster.on("n1") { try $0.start(AT.spec("w"), on: "n1", now: AT.ms(1)) }
        try cluster.on("n2") { try $0.start(AT.spec("g", protects: ["w"], policy: .relaunch), on: "n2", now: AT.ms(1)) }
        cluster.deliver()
        cluster.clearEmitted()
        try cluster.on("n3") { try $0.stop("w", now: AT.ms(2)) }
        cluster.deliver()
        return cluster
    }

    func test_stopUnderGuardians_shouldNotRelaunch_untilTheHostSawTheOldProcessExit() throws {
        var cluster = try stoppedUnderGuardians()
        XCTAssertEqual(cluster.emitted["n1"]?.killed, [ATKill(agent: "w", generation: 1)], "the host stops its copy")
        XCTAssertEqual(cluster.spawners(of: "w"), [], "no relaunch while the old copy may still be shutting down")
        for node in cluster.names {
            XCTAssertTrue(cluster.registries[node]!.awaitsExit(cluster.record("w", on: node)!), node)
        }
        let refused = cluster.registries["n2"]!.requestRelaunch(of: "w", by: "g", now: AT.ms(3))
        XCTAssertThrowsError(try refused.result.get(), "a guardian's request waits for the exit too")
        XCTAssertTrue(refused.directives.refusals.contains { $0.reason.contains("has not yet seen its process exit") },
                      "\(refused.directives.refusals)")

        cluster.on("n1") { $0.stoppedProcessExited("w", generation: 1, now: AT.ms(4)) }
        cluster.deliver()
        let target = AT.target("w", among: AT.nodes(3))!
        XCTAssertEqual(cluster.spawners(of: "w"), [target], "exactly the placement target relaunches, once the exit is seen")
        for node in cluster.names {
            XCTAssertEqual(cluster.record("w", on: node)?.generation, 2, node)
            XCTAssertEqual(cluster.record("w", on: node)?.host, target, node)
        }
    }

    func test_exitOfAProcessNobodyStopped_shouldConfirmNothing() throws {
        var cluster = try stoppedUnderGuardians()
        let directives = cluster.on("n1") { $0.stoppedProcessExited("w", generation: 7, now: AT.ms(4)) }
        XCTAssertEqual(directives, [], "an exit of another generation confirms nothing")
        cluster.deliver()
        XCTAssertEqual(cluster.spawners(of: "w"), [])
    }

    func test_stopUnderGuardians_withTheHostDead_shouldRelaunchWithoutConfirmation() throws {
        var cluster = try stoppedUnderGuardians()
        cluster.cut = ["n1"]
        cluster.view(AT.view(AT.nodes(3), ["n1": .dead]), on: ["n2", "n3"])
        let target = AT.target("w", among: ["n2", "n3"])!
        XCTAssertEqual(cluster.spawners(of: "w"), [target], "a dead host confirms nothing: the relaunch goes ahead")
        XCTAssertEqual(cluster.record("w", on: target)?.generation, 2)
    }

    func test_stopOfAStartingAgent_shouldStillWaitForTheExit() throws {
        var cluster = ATCluster(AT.nodes(2))
        try cluster.on("n1") { try $0.start(AT.spec("w"), on: "n1", now: AT.ms(1)) }
        try cluster.on("n2") { try $0.start(AT.spec("g", protects: ["w"], policy: .relaunch), on: "n2", now: AT.ms(1)) }
        cluster.deliver()
        XCTAssertEqual(cluster.record("w", on: "n2")?.pid, 0, "starting: no pid known yet")
        try cluster.on("n2") { try $0.stop("w", now: AT.ms(2)) }
        cluster.deliver()
        XCTAssertEqual(cluster.record("w", on: "n2")?.pid, AgentRecord.exitUnconfirmed)
        XCTAssertTrue(cluster.emitted["n1"]!.spawned.filter { $0.generation == 2 }.isEmpty
                      && cluster.emitted["n2"]!.spawned.filter { $0.name == "w" }.isEmpty, "nothing relaunched yet")
        cluster.on("n1") { $0.stoppedProcessExited("w", generation: 1, now: AT.ms(3)) }
        cluster.deliver()
        XCTAssertEqual(cluster.record("w", on: "n2")?.generation, 2)
    }

    func test_fenceAll_shouldKillEveryLocalCopy_andRestartOnlyWhatIsStillOursAfterTheGrace() throws {
        var registry = AT.registry("n1", members: AT.view(["n1", "n2"]))
        _ = try registry.start(AT.spec("a"), on: "n1", now: AT.ms(1))
        _ = try registry.start(AT.spec("b"), on: "n1", now: AT.ms(1))
        _ = try registry.start(AT.spec("lone"), on: "n1", now: AT.ms(1))
        _ = try registry.start(AT.spec("g", protects: ["a", "b"], policy: .relaunch), on: "n2", now: AT.ms(1))
        registry.spawned("a", generation: 1, pid: 10)
        registry.spawned("b", generation: 1, pid: 11)
        registry.spawned("lone", generation: 1, pid: 12)

        XCTAssertEqual(registry.fenceAll(now: AT.ms(100)), ["a", "b"], "lone has no guardian: no copy of it runs elsewhere")
        XCTAssertEqual(registry.localPID(of: "lone"), 12)
        XCTAssertNil(registry.localPID(of: "a"), "fenced: no process here")
        XCTAssertEqual(registry.tick(now: AT.ms(200)).spawned, [], "no restart before the cluster could answer")
        // Meanwhile the cluster relaunched b elsewhere.
        var moved = registry.records["b"]!
        moved.generation = 2
        moved.host = "n2"
        moved.state = .running
        moved.updatedBy = "n2"
        moved = AT.signed(moved)  // n2 speaks for its copy
        _ = registry.merge([moved], from: "n2", now: AT.ms(300))
        let later = registry.tick(now: AT.ms(100) + registry.hostLossGrace)
        XCTAssertEqual(later.spawned.map(\.name), ["a"], "a is still ours and restarts; b runs elsewhere and does not")
    }

    func test_aCheckpointFromAnOlderGeneration_shouldBeDroppedRecordedAndNotAcknowledged() throws {
        var registry = AT.registry("n2", members: AT.view(["n1", "n2", "n3"]))
        _ = registry.merge([AT.record("a", generation: 3, host: "n3")], from: "n3", now: AT.ms(1))
        // Held from before the relaunch: what generation 3 was restored from.
        let data = Array("{}".utf8)
        _ = registry.receive(AT.checkpointMessage(AT.checkpoint(generation: 2, seq: 8, data: data, host: "n1"), from: "n1"),
                             now: AT.ms(1))
        XCTAssertEqual(registry.checkpoints["a"]?.seq, 8, "a rejoining member takes an older generation's checkpoint it lacks")
        let stale = registry.receive(AT.checkpointMessage(AT.checkpoint(generation: 2, seq: 9, data: data, host: "n1"), from: "n1"),
                                     now: AT.ms(2))
        XCTAssertEqual(stale, [.staleRefused(what: "checkpoint", agent: "a", generation: 2, newest: 3, from: "n1")])
        XCTAssertEqual(registry.checkpoints["a"]?.seq, 8, "the stale copy's checkpoint is not kept")
        let current = registry.receive(AT.checkpointMessage(AT.checkpoint(generation: 3, seq: 1, data: data, host: "n3"), from: "n3"),
                                       now: AT.ms(3))
        XCTAssertEqual(current.sentMessages.count, 1, "the current generation's is acknowledged")
        XCTAssertEqual(registry.checkpoints["a"]?.generation, 3)
    }
}

/// The node core: a freeze longer than a suspicion timeout fences first.
final class NodeCoreFencingTests: XCTestCase {
    private func fenced(_ out: [NodeDirective]) -> [String] {
        out.compactMap { if case let .fenceAgent(agent) = $0 { agent } else { nil } }
    }

    func test_resumedAfterAShortGap_shouldRecordIt_andFenceNothing() {
        var node = NT()
        node.input(.start)
        node.startLocal(NT.spec("w"))
        node.startLocal(AgentSpec(name: "g", command: "/bin/agent", protects: ["w"], policy: .relaunch))
        let out = node.input(.resumed(after: node.core.membership.suspicionBounds.minimum.scaled(by: 0.5)))
        XCTAssertEqual(fenced(out), [])
        XCTAssertEqual(out.events("time_jump").first?.fields["fenced"], false)
    }

    func test_resumedAfterMoreThanASuspicionTimeout_shouldFenceEveryLocalAgentFirst() {
        var node = NT()
        node.input(.start)
        node.startLocal(NT.spec("w"))
        node.startLocal(AgentSpec(name: "g", command: "/bin/agent", protects: ["w"], policy: .relaunch))  // the guardian itself is protected by nobody: it runs on
        let gap = node.core.membership.suspicionBounds.minimum + .seconds(1)
        node.advance(gap)
        let out = node.input(.resumed(after: gap))
        XCTAssertEqual(fenced(out), ["w"])
        XCTAssertEqual(out.events("agent_fenced_stale").first?.fields["agent"], "w")
        XCTAssertEqual(out.events("time_jump").first?.fields["fenced"], true)
        XCTAssertNil(node.core.registry.localPID(of: "w"))
    }

    func test_beingDeclaredDead_shouldFenceEveryLocalAgent() {
        var node = NT()
        node.input(.start)
        node.meetOthers()
        node.startLocal(NT.spec("w"))
        node.startLocal(AgentSpec(name: "g", command: "/bin/agent", protects: ["w"], policy: .relaunch))
        let me = node.core.me
        let out = node.input(.receive(.pushPull(from: NodeID(name: "b", uid: 1), replyTo: "b:7946", isReply: true, isJoin: false,
                                                states: [MemberState(id: me, meta: NodeMeta(endpoint: "a:7946"), status: .dead,
                                                                     incarnation: 0)])))
        XCTAssertEqual(fenced(out), ["w"], "\(out.events.map(\.name))")
    }

    /// relaunch_quorum majority: the majority relaunches a cut-off node's guarded agents after the
    /// quorum grace, so the minority stops them at once, and starts them again only with a majority.
    func test_losingTheMajority_shouldFenceGuardedAgents_andHoldTheirRestartUntilItReturns() {
        var node = NT(quorum: .majority)
        node.input(.start)
        node.meetOthers(["b", "c", "d", "e"])
        node.startLocal(NT.spec("w"))
        node.startLocal(AgentSpec(name: "g", command: "/bin/agent", protects: ["w"], policy: .relaunch))
        func states(_ status: MemberStatus, _ names: [String], incarnation: UInt32) -> [MemberState] {
            names.map { MemberState(id: NodeID(name: $0, uid: 1), meta: NodeMeta(endpoint: "\($0):7946").credentialed(as: $0),
                                    status: status, incarnation: incarnation) }
        }
        // b says c, d and e are dead: a sees 2 of 5.
        let cut = node.input(.receive(.pushPull(from: NodeID(name: "b", uid: 1), replyTo: "b:7946", isReply: true, isJoin: false,
                                                states: states(.dead, ["c", "d", "e"], incarnation: 0))))
        XCTAssertEqual(fenced(cut), ["w"], "\(cut.events.map(\.name))")
        XCTAssertTrue(cut.events("agent_fenced_stale").first?.fields["reason"]?.stringValue?.contains("no majority") == true)
        for _ in 0..<5 {
            node.advance(.seconds(2))
            XCTAssertEqual(node.input(.tick).spawns, [], "no restart without a majority")
        }
        // c and d come back: 4 of 5.
        node.input(.receive(.pushPull(from: NodeID(name: "c", uid: 1), replyTo: "c:7946", isReply: true, isJoin: false,
                                      states: states(.alive, ["c", "d"], incarnation: 1))))
        var restarted: [AgentRecord] = []
        for _ in 0..<5 where restarted.isEmpty {
            node.advance(.seconds(2))
            restarted = node.input(.tick).spawns
        }
        XCTAssertEqual(restarted.map(\.name), ["w"], "with the majority back, the fenced agent restarts here")
    }
}
