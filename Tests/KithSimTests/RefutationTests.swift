import XCTest
import KithCore
import KithSim

/// Property 4: a live node wrongly suspected refutes the suspicion with a
/// higher incarnation, is alive everywhere again, and is never declared dead.
final class RefutationTests: XCTestCase {
    /// Checks the story after the trouble ended at `troubleStart`: `name`
    /// was suspected, refuted, is alive everywhere at a higher incarnation,
    /// and nobody ever saw it dead.
    private func expectRefuted(_ name: String, in sim: Simulation, since troubleStart: Instant,
                               file: StaticString = #filePath, line: UInt = #line) -> (suspected: Duration?, healed: Duration?) {
        let suspected = sim.firstSuspicion(of: name, since: troubleStart)
        expect(suspected != nil, sim, "\(name) was never suspected: the scenario tests nothing", file: file, line: line)
        let healed = expectEventually(sim, within: .seconds(5), "\(name) alive everywhere again", file: file, line: line) {
            $0.everyone(sees: name, as: .alive) && $0.everyoneSeesEveryoneAlive
        }
        let refutation = sim.refutations.first { $0.node.name == name && $0.time >= troubleStart }
        expect(refutation != nil, sim, "\(name) never refuted", file: file, line: line)
        let incarnation = sim.membership(name)?.incarnation ?? 0
        expect(incarnation >= 1, sim, "\(name) is still at incarnation 0", file: file, line: line)
        for observer in sim.upNodes where observer != name {
            let seen = sim.membership(observer)?.member(named: name)
            expect(seen?.incarnation == incarnation, sim,
                   "\(observer) sees \(name) at incarnation \(seen?.incarnation ?? 0), not \(incarnation)", file: file, line: line)
        }
        let deaths = sim.observations(of: name).filter { $0.status == .dead }
        expect(deaths.isEmpty, sim, "\(name) was declared dead: \(deaths.prefix(3))", file: file, line: line)
        return (suspected, healed)
    }

    /// A 600 ms freeze is long enough to miss probes, shorter than the
    /// suspicion timeout (about 1 s at 16 nodes). On resume the node handles
    /// the buffered pings, hears the suspicion (buddy system) and refutes.
    func testANodeFrozenForLessThanTheSuspicionTimeoutRefutesAndIsNeverDead() {
        var suspected = Figures(), healed = Figures()
        for seed in SimSeeds.list(default: 6) {
            let sim = formedCluster(16, seed: seed)
            let start = sim.now
            sim.pause("n5")
            sim.run(for: .milliseconds(600))
            sim.resume("n5")
            let (s, h) = expectRefuted("n5", in: sim, since: start)
            suspected.add(s)
            healed.add(h)
        }
        figure("16 nodes, n5 frozen 600 ms: first suspicion after \(suspected.description)")
        figure("16 nodes, n5 frozen 600 ms: alive everywhere again \(healed.description) after resuming")
    }

    /// The node's acks are lost for 500 ms while its own pings get through:
    /// it is suspected, hears it on the next ping it receives, and refutes.
    func testANodeWhoseAcksAreLostBrieflyRefutesAndIsNeverDead() {
        var suspected = Figures(), healed = Figures()
        for seed in SimSeeds.list(default: 6, base: 50) {
            let sim = formedCluster(16, seed: seed)
            let start = sim.now
            let rule = sim.drop(DropRule(from: "n9", kinds: [.ack]))
            sim.run(for: .milliseconds(500))
            sim.removeDropRule(rule)
            let (s, h) = expectRefuted("n9", in: sim, since: start)
            suspected.add(s)
            healed.add(h)
        }
        figure("16 nodes, n9's acks dropped 500 ms: first suspicion after \(suspected.description)")
        figure("16 nodes, n9's acks dropped 500 ms: alive everywhere again \(healed.description) after the drop ended")
    }
}
