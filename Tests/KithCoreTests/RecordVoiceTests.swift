import XCTest
@testable import KithCore

/// A node speaks only for itself: a peer's agent record is adopted only when
/// its host signed it, when it is an operator's start or stop signed by the
/// member that took the command, or when it is a verdict this node computes
/// the same way (then recomputed, not trusted).
final class RecordVoiceTests: XCTestCase {
    private func registry(_ me: String, _ statuses: [String: MemberStatus] = [:]) -> AgentRegistry {
        AT.registry(me, members: AT.view(AT.nodes(3), statuses))
    }

    private func fromPeer(_ records: [AgentRecord], sender: String = "n3") -> Message {
        .agents(from: AT.id(sender), replyTo: AT.endpoint(sender), wantsReply: false, records: records)
    }

    /// n1 holds `a` running on n2 at version 1, as n2 signed it.
    private func holdingN2sAgent(_ statuses: [String: MemberStatus] = [:]) -> AgentRegistry {
        var n1 = registry("n1", statuses)
        let directives = n1.receive(fromPeer([AT.record(version: 1, host: "n2", updatedBy: "n2")], sender: "n2"), now: AT.ms(1))
        XCTAssertEqual(directives.forged, [])
        XCTAssertEqual(n1.records["a"]?.host, "n2")
        return n1
    }

    func testTheHostsOwnSignedRecordIsAdopted() {
        var n1 = holdingN2sAgent()
        let update = AT.record(version: 2, host: "n2", state: .starting, updatedBy: "n2")
        XCTAssertEqual(n1.receive(fromPeer([update]), now: AT.ms(2)).forged, [], "relayed by n3, spoken by n2")
        XCTAssertEqual(n1.records["a"], update)
        XCTAssertEqual(n1.forgedRefused, 0)
    }

    func testForgedClaimsAboutAnotherHostsAgentAreRefusedCountedAndChangeNothing() {
        var n1 = holdingN2sAgent()
        let held = n1.records["a"]
        var failed = AT.record(version: 2, host: "n2", state: .failed, updatedBy: "n3")  // n3 speaks for n2
        var moved = AT.record(generation: 2, version: 5, host: "n3", state: .running, updatedBy: "n2")
        moved.signature = [1, 2, 3, 4, 5, 6, 7, 8]  // n2's name, not n2's key
        var frozen = AT.record(version: 1 << 62, host: "n2", state: .running, updatedBy: "n2")
        frozen.signature = AT.record(version: 2, host: "n2", updatedBy: "n2").signature  // a signature over version 2
        var unknownWriter = AT.record(version: 3, host: "n2", state: .stopped, updatedBy: "n7")
        unknownWriter = AT.signed(unknownWriter)
        var directives = n1.receive(fromPeer([failed, moved, frozen, unknownWriter]), now: AT.ms(2))
        // A member's signed record of a state only the host may write is refused even with a valid signature.
        failed = AT.signed(failed)
        directives += n1.receive(fromPeer([failed]), now: AT.ms(3))
        XCTAssertEqual(directives.forged, Array(repeating: "agent_record", count: 5))
        XCTAssertEqual(n1.forgedRefused, 5)
        XCTAssertEqual(n1.records["a"], held)
        XCTAssertEqual(directives.spawned, [])
        XCTAssertEqual(directives.changedRecords, [])
    }

    func testALostVerdictIsAdoptedOnlyWhenThisNodeHoldsTheHostDeadAndIsRecomputed() throws {
        var lost = AT.record(version: 2, host: "n2", state: .lost, updatedBy: AgentRecord.lossWriter)
        lost.reason = "anything the sender likes"
        lost.pid = 4242
        var alive = holdingN2sAgent()
        let held = alive.records["a"]
        XCTAssertEqual(alive.receive(fromPeer([lost]), now: AT.ms(2)).forged, ["agent_record"])
        XCTAssertEqual(alive.records["a"], held, "n2 is alive here: its agent is not lost")

        var n1 = holdingN2sAgent()
        _ = n1.updateView(AT.view(AT.nodes(3), ["n2": .dead]), now: AT.ms(2))  // computes lost at version 2 itself
        XCTAssertEqual(n1.records["a"]?.state, .lost)
        lost.version = 3  // the sender saw one more update of n2's than this node did
        XCTAssertEqual(n1.receive(fromPeer([lost]), now: AT.ms(3)).forged, [])
        let adopted = try XCTUnwrap(n1.records["a"])
        XCTAssertEqual(adopted.state, .lost)
        XCTAssertEqual(adopted.version, 3)
        XCTAssertEqual(adopted.reason, "host n2 dead", "recomputed here, not the sender's text")
        XCTAssertEqual(adopted.pid, held?.pid)

        // A verdict far past the held version would freeze the host's own updates: refused.
        lost.version = 1 << 62
        XCTAssertEqual(n1.receive(fromPeer([lost]), now: AT.ms(4)).forged, ["agent_record"])
        XCTAssertEqual(n1.records["a"]?.version, 3)
        // A verdict on a generation far ahead is no verdict on the record held here.
        let ahead = AT.record(generation: 100, version: 0, host: "n2", state: .lost, updatedBy: AgentRecord.lossWriter)
        XCTAssertEqual(n1.receive(fromPeer([ahead]), now: AT.ms(5)).forged, ["agent_record"])
        XCTAssertEqual(n1.records["a"]?.generation, 1)
        // One just ahead (a relaunch this node missed, on a member now dead) is taken...
        let missed = AT.record(generation: 2, version: 1, host: "n2", state: .lost, updatedBy: AgentRecord.lossWriter)
        XCTAssertEqual(n1.receive(fromPeer([missed]), now: AT.ms(6)).forged, [])
        XCTAssertEqual(n1.records["a"]?.generation, 2)
        // ...but never on a host this node does not know, nor on one it holds live.
        var n3 = registry("n3", ["n2": .dead])
        _ = n3.receive(fromPeer([AT.record(host: "n1")], sender: "n1"), now: AT.ms(1))
        let unknownHost = AT.record(generation: 2, version: 1, host: "n9", state: .lost, updatedBy: AgentRecord.lossWriter)
        let liveHost = AT.record(generation: 2, version: 1, host: "n3", state: .lost, updatedBy: AgentRecord.lossWriter)
        XCTAssertEqual(n3.receive(fromPeer([unknownHost, liveHost]), now: AT.ms(2)).forged, ["agent_record", "agent_record"])
        XCTAssertEqual(n3.records["a"]?.host, "n1")
        XCTAssertEqual(n3.records["a"]?.state, .running)
    }

    func testAKilledVerdictNeedsTheKillSwitchHere() {
        var n1 = holdingN2sAgent()
        let killed = AT.record(version: 2, host: "n2", state: .killed, updatedBy: AgentRecord.killSwitchWriter)
        XCTAssertEqual(n1.receive(fromPeer([killed]), now: AT.ms(2)).forged, ["agent_record"])
        XCTAssertEqual(n1.records["a"]?.state, .running)
    }

    func testAnOperatorStopTakenByAnotherMemberIsAdoptedEverywhere() throws {
        var cluster = ATCluster(AT.nodes(3))
        let now = cluster.now
        let spec = AT.spec("w")
        let target = try XCTUnwrap(AT.target("w", among: AT.nodes(3)))
        let taker = AT.nodes(3).first { $0 != target }!
        try cluster.on(taker) { try $0.start(spec, on: target, now: now) }
        cluster.deliver()
        _ = cluster.on(target) { $0.connected("w", generation: 1, now: now) }
        cluster.deliver()
        try cluster.on(taker) { try $0.stop("w", now: now) }
        cluster.deliver()
        for node in cluster.names {
            XCTAssertEqual(cluster.record("w", on: node)?.state, .stopped, node)
            XCTAssertEqual(cluster.registries[node]?.forgedRefused, 0, node)
        }
        XCTAssertEqual(cluster.emitted[target]?.killed, [ATKill(agent: "w", generation: 1)])
    }

    func testAStopByAnotherMemberNeedsTheOperatorsSignedStopOfThatAgent() throws {
        var n1 = holdingN2sAgent()
        let held = n1.records["a"]
        var stop = AT.record(version: 2, host: "n2", state: .stopped, updatedBy: "n3")
        let unsigned = AT.signed(stop)
        stop.stopProof = TagAuthorizer().mint(.stop(agent: "b"))
        let otherAgent = AT.signed(stop)
        stop.stopProof = TagAuthorizer().mint(.killSwitch(agents: ["a"], epoch: 1))
        let otherGrant = AT.signed(stop)
        XCTAssertEqual(n1.receive(fromPeer([unsigned, otherAgent, otherGrant]), now: AT.ms(2)).forged,
                       Array(repeating: "agent_record", count: 3))
        XCTAssertEqual(n1.records["a"], held)
        stop.stopProof = TagAuthorizer().mint(.stop(agent: "a"))
        XCTAssertEqual(n1.receive(fromPeer([AT.signed(stop)]), now: AT.ms(3)).forged, [])
        XCTAssertEqual(n1.records["a"]?.state, .stopped)
        XCTAssertEqual(n1.records["a"]?.stopProof, stop.stopProof)
    }

    func testARelaunchIsTheNewHostSpeakingForItself() throws {
        var cluster = ATCluster(AT.nodes(3))
        let now = cluster.now
        let guardian = AT.spec("g", protects: ["w"], policy: .relaunch)
        let ward = AT.spec("w")
        let wardHost = try XCTUnwrap(AT.target("w", among: AT.nodes(3)))
        let others = AT.nodes(3).filter { $0 != wardHost }
        try cluster.on(others[0]) { try $0.start(guardian, on: others[0], now: now) }
        try cluster.on(others[0]) { try $0.start(ward, on: wardHost, now: now) }
        cluster.deliver()
        cluster.cut = [wardHost]
        cluster.view(AT.view(AT.nodes(3), [wardHost: .dead]), on: others)
        let relaunched = try XCTUnwrap(cluster.record("w", on: others[0]))
        XCTAssertEqual(relaunched.generation, 2)
        XCTAssertTrue(others.contains(relaunched.host))
        XCTAssertEqual(relaunched.updatedBy, relaunched.host)
        for node in others {
            XCTAssertEqual(cluster.record("w", on: node), relaunched, node)
            XCTAssertEqual(cluster.registries[node]?.forgedRefused, 0, node)
        }
    }
}
