import XCTest
@testable import KithCore

/// The simulated operator whose proofs only the operator makes: like the
/// daemon's authorizer, it checks proofs but cannot mint one.
private struct OperatorOnly: AgentAuthorizer {
    func grant(of proof: OperatorProof) -> Result<OperatorGrant, AgentError> { TagAuthorizer().grant(of: proof) }
    func mint(_ grant: OperatorGrant) -> OperatorProof? { nil }
}

/// Power flows from operator proofs: records and tombstones from the wire are
/// refused without one that grants exactly them, and nothing runs unproven.
final class AgentAuthorityTests: XCTestCase {
    private let operatorKey = TagAuthorizer()

    private func registry(_ me: String = "n2", vouched: [AgentSpec] = []) -> AgentRegistry {
        var registry = AgentRegistry(me: AT.id(me), authorizer: OperatorOnly(), randomSeed: 1, now: .zero)
        registry.vouchedSpecs = Dictionary(uniqueKeysWithValues: vouched.map { ($0.name, $0) })
        _ = registry.updateView(AT.view(AT.nodes(3)), now: .zero)
        return registry
    }

    private func fromPeer(_ records: [AgentRecord]) -> Message {
        .agents(from: AT.id("n9"), replyTo: "", wantsReply: false, records: records)
    }

    private func refusals(_ directives: [AgentDirective]) -> [(what: String, agent: String, from: String)] {
        directives.compactMap {
            guard case let .forgedRefused(what, agent, from, _) = $0 else { return nil }
            return (what, agent, from)
        }
    }

    func testARecordHostedHereWithoutAValidProofIsRefusedCountedAndNeverSpawned() {
        let evil = AgentSpec(name: "evil", command: "/bin/sh", args: ["-c", "touch MARKER"])
        var forged = AT.record("evil", host: "n2", state: .starting, spec: evil, signed: false)
        var registry = registry()
        var directives = registry.receive(fromPeer([forged]), now: AT.ms(1))
        // A made-up signature, and a real signature over another spec.
        forged.authorization = OperatorProof(key: TagAuthorizer.key, signature: [0, 1, 2, 3, 4, 5, 6, 7],
                                             signed: operatorKey.mint(.start(evil))!.signed)
        directives += registry.receive(fromPeer([forged]), now: AT.ms(2))
        forged.authorization = operatorKey.mint(.start(AgentSpec(name: "evil", command: "/bin/true")))
        directives += registry.receive(fromPeer([forged]), now: AT.ms(3))
        forged.authorization = operatorKey.mint(.killSwitch(agents: ["evil"], epoch: 1))
        directives += registry.receive(fromPeer([forged]), now: AT.ms(4))
        XCTAssertEqual(directives.spawned, [])
        XCTAssertNil(registry.records["evil"])
        XCTAssertEqual(refusals(directives).map(\.from), ["n9", "n9", "n9", "n9"])
        XCTAssertEqual(registry.forgedRefused, 4)
    }

    func testASignedRecordRunsWhereverItIsPlacedAndKeepsItsProofAcrossARelaunch() throws {
        let spec = AT.spec("w", protects: [], policy: .none)
        let proof = try XCTUnwrap(operatorKey.mint(.start(spec)))
        var n1 = registry("n1")
        _ = try n1.start(spec, on: "n3", proof: proof, now: AT.ms(1))
        let record = try XCTUnwrap(n1.records["w"])
        XCTAssertEqual(record.authorization, proof)
        var n3 = registry("n3")
        XCTAssertEqual(n3.merge([record], from: "n1", now: AT.ms(2)).spawned.map(\.name), ["w"])
        // The host's crash loop hands it on: the relaunched record carries the same proof.
        var now = AT.ms(3)
        var handed: [AgentDirective] = []
        for _ in 0...spec.limits.maxRestarts {
            handed += n3.exited("w", generation: 1, status: "exit 1", now: now)
            now = now + .seconds(1)
            handed += n3.tick(now: now)
        }
        let relaunching = try XCTUnwrap(n3.records["w"])
        XCTAssertEqual(relaunching.state, .relaunching)
        let placed = n1.merge([relaunching], from: "n3", now: now)
        let moved = try XCTUnwrap(n1.records["w"])
        XCTAssertEqual(moved.authorization, proof, "a relaunch changes generation and host, never the proof")
        XCTAssertEqual(n1.forgedRefused, 0)
        _ = placed
    }

    func testStartingNeedsAProofOfExactlyThatSpecUnlessTheNodeVouchesForIt() throws {
        var n1 = registry("n1")
        let spec = AT.spec("w")
        XCTAssertThrowsError(try n1.start(spec, on: "n1", now: AT.ms(1)))
        var other = spec
        other.command = "/bin/other"
        XCTAssertThrowsError(try n1.start(other, on: "n1", proof: operatorKey.mint(.start(spec)), now: AT.ms(1)))
        var vouching = registry("n1", vouched: [spec])
        XCTAssertEqual(try vouching.start(spec, on: "n1", now: AT.ms(1)).spawned.map(\.name), ["w"])
        XCTAssertNil(vouching.records["w"]?.authorization, "a config agent is unsigned")
    }

    func testAnUnsignedConfigAgentRunsOnlyWhereListedAndNeverReplacesASignedRecord() throws {
        let spec = AT.spec("cfg")
        let unsigned = AT.record("cfg", host: "n2", state: .starting, spec: spec, signed: false)
        var listing = registry("n2", vouched: [spec])
        XCTAssertEqual(listing.merge([unsigned], from: "n1", now: AT.ms(1)).spawned.map(\.name), ["cfg"])
        // Hosted elsewhere, it is kept (its host may list it) but not relaunched by a node that does not.
        var bystander = registry("n3")
        let elsewhere = AT.record("cfg", host: "n1", state: .lost, spec: spec, signed: false)
        XCTAssertEqual(bystander.merge([elsewhere], from: "n1", now: AT.ms(1)).spawned, [])
        // A signed record is never replaced by an unsigned one, however high its generation.
        var signedHere = registry("n2")
        let signed = AT.record("w", host: "n2", state: .starting)
        _ = signedHere.merge([signed], from: "n1", now: AT.ms(1))
        let usurper = AT.record("w", generation: 99, host: "n3", state: .running, signed: false)
        let directives = signedHere.merge([usurper], from: "n9", now: AT.ms(2))
        XCTAssertEqual(signedHere.records["w"]?.generation, 1)
        XCTAssertEqual(directives.killed, [])
        XCTAssertEqual(refusals(directives).map(\.agent), ["w"])
    }

    func testTombstonesNeedTheSignedSwitchOrReviveOfThatAgentAtThatEpoch() throws {
        var n2 = registry("n2")
        _ = n2.merge([AT.record("w", host: "n2", state: .starting)], from: "n1", now: AT.ms(1))
        let killSwitch = try XCTUnwrap(operatorKey.mint(.killSwitch(agents: ["w"], epoch: 2)))
        _ = try n2.killSwitch("w", epoch: 2, reason: "stop", issuedBy: "op", proof: killSwitch, now: AT.ms(2))
        XCTAssertNotNil(n2.tombstone(of: "w"))
        let forgedLift = [
            Tombstone(agent: "w", epoch: WireCodec.counterMax, active: false, reason: "", issuedBy: ""),
            Tombstone(agent: "w", epoch: WireCodec.counterMax, active: false, reason: "", issuedBy: "",
                      proof: operatorKey.mint(.revive(agents: ["w"], epoch: 3))),
            Tombstone(agent: "w", epoch: 3, active: false, reason: "", issuedBy: "",
                      proof: operatorKey.mint(.revive(agents: ["other"], epoch: 3))),
            Tombstone(agent: "w", epoch: 3, active: false, reason: "", issuedBy: "", proof: killSwitch),
        ]
        let directives = n2.receive(.tombstones(from: AT.id("n9"), tombstones: forgedLift), now: AT.ms(3))
        XCTAssertEqual(refusals(directives).count, 4)
        XCTAssertEqual(n2.tombstones["w"]?.epoch, 2)
        XCTAssertNotNil(n2.tombstone(of: "w"), "still switched off")
        // A forged active tombstone for a running agent fences nothing.
        _ = n2.merge([AT.record("x", host: "n2", state: .starting)], from: "n1", now: AT.ms(4))
        let forgedKill = Tombstone(agent: "x", epoch: 5, active: true, reason: "", issuedBy: "",
                                   proof: operatorKey.mint(.killSwitch(agents: ["w"], epoch: 5)))
        let fenced = n2.receive(.tombstones(from: AT.id("n9"), tombstones: [forgedKill]), now: AT.ms(5))
        XCTAssertEqual(fenced.killed, [])
        XCTAssertNil(n2.tombstone(of: "x"))
        // The real revive still works.
        _ = try n2.revive("w", epoch: 3, issuedBy: "op", proof: operatorKey.mint(.revive(agents: ["w"], epoch: 3)), now: AT.ms(6))
        XCTAssertNil(n2.tombstone(of: "w"))
        XCTAssertEqual(n2.forgedRefused, 5)
    }

    func testRestoredTombstonesAreCheckedLikeThoseFromTheWire() {
        var n1 = registry("n1")
        n1.restore(tombstones: [
            Tombstone(agent: "a", epoch: 4, active: true, reason: "", issuedBy: "", proof: operatorKey.mint(.killSwitch(agents: ["a"], epoch: 4))),
            Tombstone(agent: "b", epoch: 9, active: false, reason: "", issuedBy: ""),
            Tombstone(agent: "c", epoch: 9, active: true, reason: "", issuedBy: "", proof: operatorKey.mint(.killSwitch(agents: ["c"], epoch: 8))),
        ])
        XCTAssertEqual(n1.tombstones.keys.sorted(), ["a"])
        XCTAssertEqual(n1.forgedRefused, 2)
    }
}
