import XCTest
import KithCore
import KithSim

/// Property 8: a seed determines the whole history.
final class DeterminismTests: XCTestCase {
    /// A busy scenario: jitter, loss, a crash, a partition, a restart, a pause.
    private func story(seed: UInt64) -> Simulation {
        let sim = Simulation(seed: seed, network: .lossy(0.03))
        sim.startCluster(nodes: 12)
        sim.run(for: .seconds(2))
        sim.crash("n4")
        sim.run(for: .seconds(1))
        sim.partition([["n1", "n2", "n3", "n5"]])
        sim.pause("n9")
        sim.run(for: .seconds(3))
        sim.heal()
        sim.resume("n9")
        sim.restart("n4")
        sim.run(for: .seconds(5))
        return sim
    }

    func testTheSameSeedReplaysTheSameHistoryBitForBit() {
        for seed in SimSeeds.list(default: 3) {
            let a = story(seed: seed), b = story(seed: seed)
            expect(a.observations == b.observations, a, "two runs of one seed observed different histories")
            expect(a.historyDigest == b.historyDigest, a, "two runs of one seed have different digests")
            expect(a.refutations == b.refutations, a, "two runs of one seed refuted differently")
            expect(a.stats == b.stats && a.eventsProcessed == b.eventsProcessed, a,
                   "two runs of one seed sent different traffic: \(a.stats) vs \(b.stats)")
            expect(a.nodeNames.map(a.id) == b.nodeNames.map(b.id), a, "two runs of one seed drew different uids")
            figure("seed \(seed): \(a.observations.count) observations, \(a.eventsProcessed) events, digest \(String(a.historyDigest, radix: 16))")
        }
    }

    func testDifferentSeedsGiveDifferentHistories() {
        let digests = (UInt64(1)...4).map { story(seed: $0).historyDigest }
        XCTAssertEqual(Set(digests).count, digests.count, "seeds 1-4 share a history digest: \(digests)")
    }
}
