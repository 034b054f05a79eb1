import XCTest
import KithCore
import KithSim

/// Property 2: a dead process is detected by every survivor.
final class FailureDetectionTests: XCTestCase {
    /// A crashed process leaves its host up, so connections to it are
    /// refused: hard evidence, acted on after `refusedSuspicionTimeout`.
    func testEverySurvivorMarksACrashedNodeDeadWithinOneSecondThanksToRefusals() {
        var last = Figures(), first = Figures()
        for seed in SimSeeds.list(default: 4) {
            let sim = formedCluster(32, seed: seed)
            sim.run(for: .seconds(1))
            let crashedAt = sim.now
            sim.crash("n7")
            let took = expectEventually(sim, within: .seconds(1), "every survivor marks crashed n7 dead") {
                $0.everyone(sees: "n7", as: .dead)
            }
            if took != nil, let spread = sim.spread(of: "n7", as: .dead, since: crashedAt) {
                first.add(spread.first)
                last.add(spread.last)
            }
        }
        figure("32 nodes, crash (refused): first survivor marks it dead after \(first.description)")
        figure("32 nodes, crash (refused): last survivor marks it dead after \(last.description)")
    }

    /// A frozen process (SIGSTOP) answers nothing and refuses nothing: only
    /// missed probes and Lifeguard's suspicion timeout find it.
    func testEverySurvivorMarksAPausedNodeDeadWithinFourSeconds() {
        var last = Figures(), suspected = Figures()
        for seed in SimSeeds.list(default: 4) {
            let sim = formedCluster(32, seed: seed)
            sim.run(for: .seconds(1))
            let pausedAt = sim.now
            sim.pause("n7")
            let took = expectEventually(sim, within: .seconds(4), "every survivor marks paused n7 dead") {
                $0.everyone(sees: "n7", as: .dead)
            }
            if took != nil, let spread = sim.spread(of: "n7", as: .dead, since: pausedAt) {
                last.add(spread.last)
            }
            suspected.add(sim.firstSuspicion(of: "n7", since: pausedAt))
        }
        figure("32 nodes, pause (silent): first suspicion after \(suspected.description)")
        figure("32 nodes, pause (silent): last survivor marks it dead after \(last.description)")
    }

    /// A host that vanishes (power off) is as silent as a paused one.
    func testEverySurvivorMarksAPoweredOffHostDeadWithinFourSeconds() {
        var last = Figures()
        for seed in SimSeeds.list(default: 2, base: 100) {
            let sim = formedCluster(32, seed: seed)
            let offAt = sim.now
            sim.powerOff("n2")
            let took = expectEventually(sim, within: .seconds(4), "every survivor marks powered-off n2 dead") {
                $0.everyone(sees: "n2", as: .dead)
            }
            if took != nil { last.add(sim.spread(of: "n2", as: .dead, since: offAt)?.last) }
        }
        figure("32 nodes, power off (silent): last survivor marks it dead after \(last.description)")
    }
}

extension Simulation {
    /// How long after `since` some node first suspected `subject`.
    func firstSuspicion(of subject: String, since: Instant) -> Duration? {
        observations.first { $0.time >= since && $0.subject.name == subject && $0.status == .suspect }
            .map { $0.time.since(since) }
    }
}
