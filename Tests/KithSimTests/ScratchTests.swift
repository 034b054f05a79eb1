import XCTest
@testable import KithCore
@testable import KithSim

final class ScratchTests: XCTestCase {
    func testScratch() {
        let sim = formedCluster(5, seed: 1)
        sim.partition([["n1", "n2"], ["n3", "n4", "n5"]])
        sim.run(until: { sim in ["n1","n2"].allSatisfy { a in ["n3","n4","n5"].allSatisfy { b in sim.status(of: b, seenBy: a) == .dead && sim.status(of: a, seenBy: b) == .dead } } }, timeout: .seconds(10))
        let healedAt = sim.now
        print("healed at", healedAt)
        sim.heal()
        sim.run(for: .seconds(3))
        for o in sim.observations where o.time >= healedAt { print(o) }
        print(sim.refutations.filter { $0.time >= healedAt })
    }
}
