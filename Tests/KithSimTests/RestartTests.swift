import XCTest
import KithCore
import KithSim

/// Property 6: a node restarted under the same name (a new uid) is alive
/// everywhere quickly, and its old boot never comes back.
final class RestartTests: XCTestCase {
    /// No observer mentions `old` once it has seen `new`, nobody sees `old`
    /// become alive after `since` (it may still decline: alive → suspect →
    /// dead where the news of the restart has not arrived yet), and every
    /// running node ends with `new`.
    private func expectOldBootGone(_ old: NodeID, new: NodeID, in sim: Simulation, since: Instant,
                                   file: StaticString = #filePath, line: UInt = #line) {
        var sawNew: Set<NodeID> = []
        for o in sim.observations {
            if o.subject == new { sawNew.insert(o.observer) }
            guard o.subject == old else { continue }
            expect(!sawNew.contains(o.observer), sim, "\(o.observer) went back to the old boot: \(o)", file: file, line: line)
            expect(o.time < since || o.status != .alive, sim, "the old boot came back: \(o)", file: file, line: line)
        }
        for observer in sim.upNodes where observer != new.name {
            expect(sim.membership(observer)?.member(named: new.name)?.id == new, sim,
                   "\(observer) does not have \(new)", file: file, line: line)
        }
    }

    func testACrashedSeedRestartedUnderItsNameIsAliveEverywhereAndItsOldUidNeverReturns() {
        var rejoin = Figures()
        for seed in SimSeeds.list(default: 4) {
            let sim = formedCluster(16, seed: seed)
            let old = sim.id("n3")
            sim.crash("n3")
            expectEventually(sim, within: .seconds(2), "n3 dead everywhere") { $0.everyone(sees: "n3", as: .dead) }
            sim.run(for: .seconds(1))
            let restartedAt = sim.now
            let new = sim.restart("n3")
            expect(new.uid > old.uid, sim, "the new boot's uid \(new) is not above the old \(old)")
            rejoin.add(expectEventually(sim, within: .seconds(2), "restarted n3 alive everywhere") {
                $0.everyoneSeesEveryoneAlive
            })
            sim.run(for: .seconds(5))
            expect(sim.isConverged, sim, "the cluster drifted after the restart")
            expectOldBootGone(old, new: new, in: sim, since: restartedAt)
        }
        figure("16 nodes, n3 restarted after being declared dead: alive everywhere after \(rejoin.description)")
    }

    /// Restarted 100 ms after the crash, before anyone noticed: the new uid
    /// replaces the old boot's record wherever it arrives.
    func testANodeRestartedBeforeItsCrashWasNoticedReplacesItsOldBootEverywhere() {
        var rejoin = Figures()
        for seed in SimSeeds.list(default: 4, base: 30) {
            let sim = formedCluster(16, seed: seed)
            let old = sim.id("n8")
            sim.crash("n8")
            sim.run(for: .milliseconds(100))
            let restartedAt = sim.now
            let new = sim.restart("n8")
            rejoin.add(expectEventually(sim, within: .seconds(3), "restarted n8 alive everywhere") {
                $0.everyoneSeesEveryoneAlive
            })
            sim.run(for: .seconds(5))
            expect(sim.isConverged, sim, "the cluster drifted after the restart")
            expectOldBootGone(old, new: new, in: sim, since: restartedAt)
        }
        figure("16 nodes, n8 restarted 100 ms after a crash: new boot alive everywhere after \(rejoin.description)")
    }
}
