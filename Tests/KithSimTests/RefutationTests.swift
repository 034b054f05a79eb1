import XCTest
import KithCore
import KithSim

/// Property 4: a live node wrongly suspected refutes the suspicion with a
/// higher incarnation, is alive everywhere again, and is never declared dead.
final class RefutationTests: XCTestCase {
    /// Checks the story once the trouble (which began at `troubleStart`)
    /// is over: `name` refutes, everyone sees it alive at its new
    /// incarnation, someone had suspected it, and nobody ever saw it dead.
    /// Returns when it was first suspected (after `troubleStart`) and how
    /// long after the trouble ended it was alive everywhere again.
    private func expectRefuted(_ name: String, in sim: Simulation, since troubleStart: Instant,
                               file: StaticString = #filePath, line: UInt = #line) -> (suspected: Duration?, healed: Duration?) {
        let healed = expectEventually(sim, within: .seconds(5), "\(name) refuted and alive everywhere again",
                                      file: file, line: line) { sim in
            guard let incarnation = sim.membership(name)?.incarnation, incarnation >= 1 else { return false }
            return sim.everyone(sees: name, as: .alive) && sim.upNodes.allSatisfy { observer in
                observer == name || sim.membership(observer)?.member(named: name)?.incarnation == incarnation
            }
        }
        let suspected = sim.firstSuspicion(of: name, since: troubleStart)
        expect(suspected != nil, sim, "\(name) was never suspected: the scenario tests nothing", file: file, line: line)
        expect(sim.refutations.contains { $0.node.name == name && $0.time >= troubleStart }, sim,
               "\(name) never refuted", file: file, line: line)
        let deaths = sim.observations(of: name).filter { $0.status == .dead }
        expect(deaths.isEmpty, sim, "\(name) was declared dead: \(deaths.prefix(3))", file: file, line: line)
        sim.run(for: .seconds(3))
        expect(sim.isConverged, sim, "the cluster drifted after the refutation", file: file, line: line)
        return (suspected, healed)
    }

    /// A node frozen until someone suspects it, then 200 ms more: shorter
    /// than the suspicion timeout (about 1 s at 16 nodes). On resume it
    /// handles the buffered pings, hears the suspicion (the buddy system puts
    /// it first) and refutes.
    func testANodeFrozenForLessThanTheSuspicionTimeoutRefutesAndIsNeverDead() {
        var suspected = Figures(), healed = Figures(), frozen = Figures()
        for seed in SimSeeds.list(default: 6) {
            let sim = formedCluster(16, seed: seed)
            let start = sim.now
            sim.pause("n5")
            sim.run(until: { $0.anyone(sees: "n5", as: .suspect) }, timeout: .seconds(3))
            sim.run(for: .milliseconds(200))
            frozen.add(sim.now.since(start))
            sim.resume("n5")
            let (s, h) = expectRefuted("n5", in: sim, since: start)
            suspected.add(s)
            healed.add(h)
        }
        figure("16 nodes, n5 frozen \(frozen.description): first suspicion after \(suspected.description)")
        figure("16 nodes, n5 frozen: alive everywhere again \(healed.description) after resuming")
    }

    /// The node's acks are lost (its own pings get through) until someone
    /// suspects it, then 200 ms more: it hears the suspicion on a ping it
    /// receives and refutes on the pings it sends.
    func testANodeWhoseAcksAreLostBrieflyRefutesAndIsNeverDead() {
        var suspected = Figures(), healed = Figures()
        for seed in SimSeeds.list(default: 6, base: 50) {
            let sim = formedCluster(16, seed: seed)
            let start = sim.now
            let rule = sim.drop(DropRule(from: "n9", kinds: [.ack]))
            sim.run(until: { $0.anyone(sees: "n9", as: .suspect) }, timeout: .seconds(3))
            sim.run(for: .milliseconds(200))
            sim.removeDropRule(rule)
            let (s, h) = expectRefuted("n9", in: sim, since: start)
            suspected.add(s)
            healed.add(h)
        }
        figure("16 nodes, n9's acks dropped: first suspicion after \(suspected.description)")
        figure("16 nodes, n9's acks dropped: alive everywhere again \(healed.description) after the drop ended")
    }
}
