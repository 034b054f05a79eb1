import XCTest
import KithCore
import KithSim

/// Property 9: whatever random faults hit the cluster (crashes, power-offs,
/// restarts, pauses, partitions), once the network heals and every frozen
/// node resumes, the cluster agrees with reality: every running node alive
/// everywhere, every stopped one dead (or never heard of). Checked at every
/// step too (`MembershipMonitor`): no false *dead*, every crash detected in
/// time, agreement after every quiet spell.
final class ChaosTests: XCTestCase {
    private func chaos(nodes n: Int, seeds: [UInt64], duration: Duration, network: NetworkConditions,
                       quiescence: Duration) -> Figures {
        var settle = Figures()
        for seed in seeds {
            let sim = Simulation(seed: seed, network: network)
            sim.testName = filterPattern
            let monitor = MembershipMonitor()
            sim.monitor = monitor
            sim.startCluster(nodes: n)
            sim.run(for: .seconds(2))
            let schedule = Chaos.schedule(seed: seed, nodes: sim.nodeNames, duration: duration,
                                          meanGap: .milliseconds(800))
            sim.run(schedule)
            sim.heal()
            sim.resumeAll()
            let took = sim.run(until: { $0.isConverged }, timeout: quiescence)
            settle.add(took)
            expect(took != nil, sim, "no agreement \(Simulation.format(quiescence)) after the faults ended")
            expect(monitor.violations.isEmpty, sim, "broken during the run: \(monitor.violations.prefix(3))")
            expect(monitor.checkedDetections > 0, sim, "no crash was checked for detection")
            expect(sim.codecFailures == 0, sim, "frames the codec rejected")
        }
        return settle
    }

    func testRandomFaultSchedulesEndWithEveryLiveNodeAliveAndEveryStoppedNodeDeadEverywhere() {
        let seeds = SimSeeds.list(default: 16)
        let settle = chaos(nodes: 10, seeds: seeds, duration: .seconds(20), network: .init(), quiescence: .seconds(30))
        figure("10 nodes, 20 s of random faults, \(seeds.count) seeds: agreement \(settle.description) after the last heal")
    }

    func testRandomFaultSchedulesOnALossyNetworkStillEndInAgreement() {
        let seeds = SimSeeds.list(default: 8, base: 1000)
        let settle = chaos(nodes: 10, seeds: seeds, duration: .seconds(20), network: .lossy(0.02),
                           quiescence: .seconds(30))
        figure("10 nodes, 20 s of random faults, 2% loss, \(seeds.count) seeds: agreement \(settle.description) after the last heal")
    }
}
