import XCTest
@testable import KithCore

/// The first process of a later generation starts from the newest checkpoint
/// any live member holds: the soak lost acknowledged checkpoints when a
/// relaunch landed on a node that had not received them yet.
final class CheckpointFetchTests: XCTestCase {
    /// w on n1 guarded by g on n2 (relaunch), in a cluster of four.
    private func guardedCluster() throws -> ATCluster {
        var cluster = ATCluster(AT.nodes(4))
        try cluster.on("n1") { try $0.start(AT.spec("w"), on: "n1", now: AT.ms(1)) }
        try cluster.on("n2") { try $0.start(AT.spec("g", protects: ["w"], policy: .relaunch), on: "n2", now: AT.ms(1)) }
        cluster.deliver()
        cluster.clearEmitted()
        return cluster
    }

    func testARelaunchOnANodeThatMissedTheCheckpointStartsFromTheNewestASurvivorHolds() throws {
        var cluster = try guardedCluster()
        let target = AT.target("w", among: ["n2", "n3", "n4"])!
        cluster.cut = [target]  // the relaunch's target misses the checkpoint (it was restarting, or its link lost it)
        try cluster.on("n1") { try $0.checkpoint("w", data: [7], now: AT.ms(5)) }
        cluster.deliver()
        XCTAssertEqual(cluster.emitted["n1"]!.acknowledged.map(\.seq), [1], "the two others hold it: acknowledged")
        XCTAssertNil(cluster.registries[target]!.checkpoints["w"])

        cluster.cut = ["n1"]
        cluster.view(AT.view(AT.nodes(4), ["n1": .dead]), on: ["n2", "n3", "n4"])
        XCTAssertEqual(cluster.spawners(of: "w"), [target])
        XCTAssertEqual(cluster.emitted[target]!.spawnCheckpoints.map { $0?.seq }, [1], "started from the acknowledged checkpoint")
        XCTAssertEqual(cluster.emitted[target]!.spawnCheckpoints.first??.data, [7])
    }

    /// n1 is told its agent `a` now runs here at generation 3, and asks n2 and n3.
    private func fetching() throws -> (AgentRegistry, [AgentDirective]) {
        var registry = AT.registry("n1", members: AT.view(AT.nodes(3)))
        _ = try registry.start(AT.spec("a"), on: "n1", now: AT.ms(1))
        let directives = registry.merge([AT.record("a", generation: 3, host: "n1", state: .starting, updatedBy: "n2")],
                                        now: AT.ms(2))
        return (registry, directives)
    }

    func testAForgedOfferIsRefusedAndTheProcessStartsFromTheGenuineOne() throws {
        var (registry, asked) = try fetching()
        XCTAssertEqual(asked.sentMessages.map(\.to).sorted(), ["n2:7946", "n3:7946"])
        XCTAssertEqual(asked.spawned, [])
        var forged = AT.checkpoint(generation: 2, seq: 9, data: [6, 6, 6], host: "n3")
        forged.signature = AT.checkpoint(generation: 2, seq: 9, data: [1], host: "n3").signature
        let first = registry.receive(.checkpointOffer(from: AT.id("n2"), agent: "a", checkpoint: forged), now: AT.ms(3))
        XCTAssertEqual(first.forged, ["checkpoint"])
        XCTAssertEqual(first.spawned, [], "n3 has not answered yet")
        let genuine = AT.checkpoint(generation: 2, seq: 4, data: [4], host: "n3")
        let last = registry.receive(.checkpointOffer(from: AT.id("n3"), agent: "a", checkpoint: genuine), now: AT.ms(4))
        XCTAssertEqual(last.spawnCheckpoints, [genuine], "every member answered: it starts at once, from the genuine one")
        XCTAssertNil(registry.checkInvariants())
    }

    func testUnansweredItStartsAtTheTimeoutAndLateOrUnaskedOffersChangeNothing() throws {
        var (registry, _) = try fetching()
        XCTAssertEqual(registry.receive(.checkpointOffer(from: AT.id("n9"), agent: "a", checkpoint: nil), now: AT.ms(3)), [],
                       "an offer from a member never asked")
        XCTAssertLessThanOrEqual(registry.nextDeadline!, AT.ms(2) + registry.checkpointFetchTimeout, "a wake-up for the timeout")
        XCTAssertEqual(registry.tick(now: AT.ms(2) + registry.checkpointFetchTimeout).spawnCheckpoints, [nil])
        let late = AT.checkpoint(generation: 2, seq: 4, data: [4], host: "n3")
        XCTAssertEqual(registry.receive(.checkpointOffer(from: AT.id("n3"), agent: "a", checkpoint: late), now: AT.ms(600)), [])
        XCTAssertNil(registry.checkpoints["a"], "an answer after the start is not taken")
    }

    func testAFetchIsAnsweredOnlyToAMemberAtItsOwnEndpoint() throws {
        var registry = AT.registry("n1", members: AT.view(AT.nodes(3)))
        _ = try registry.start(AT.spec("a"), on: "n1", now: AT.ms(1))
        _ = try registry.checkpoint("a", data: [5], now: AT.ms(2))
        let answer = registry.receive(.checkpointFetch(from: AT.id("n2"), agent: "a"), now: AT.ms(3)).sentMessages
        XCTAssertEqual(answer.map(\.to), ["n2:7946"])
        guard case let .checkpointOffer(_, "a", offered)? = answer.first?.message else { return XCTFail("\(answer)") }
        XCTAssertEqual(offered?.data, [5])
        XCTAssertEqual(registry.receive(.checkpointFetch(from: AT.id("x9"), agent: "a"), now: AT.ms(3)), [], "not a member")
        XCTAssertEqual(registry.receive(.checkpointFetch(from: AT.id("n2", uid: 7), agent: "a"), now: AT.ms(3)), [],
                       "not the boot this node knows")
        XCTAssertEqual(registry.receive(.checkpointFetch(from: AT.id("n2"), agent: "nobody"), now: AT.ms(3)), [], "no such agent")
    }

    func testAFirstGenerationStartsAtOnceWithNothingToFetch() throws {
        var registry = AT.registry("n1", members: AT.view(AT.nodes(3)))
        let directives = try registry.start(AT.spec("a"), on: "n1", now: AT.ms(1))
        XCTAssertEqual(directives.spawned.map(\.generation), [1])
        XCTAssertFalse(directives.sentMessages.contains { if case .checkpointFetch = $0.message { true } else { false } })
    }
}
