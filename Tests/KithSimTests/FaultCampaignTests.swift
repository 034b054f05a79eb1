import XCTest
import KithCore
import KithSim

/// The fault campaign in simulation: as many random fault schedules as asked for, within a time box,
/// each on a small cluster of real `NodeCore`s (every frame through the codec): crashes, power-offs,
/// restarts, pauses and partitions, then heal and resume, with the membership properties checked at
/// every step (no false *dead*, every crash detected in time, agreement after quiet spells) and
/// agreement required after the heal. Time-boxed; the count is printed. A failing seed prints how to
/// replay it (`KITH_SIM_SEED=...`).
///
/// - `KITH_SIM_CAMPAIGN=N`: schedules to run (default 100, about 30 s: the full suite runs those; CI's
///   campaign step asks for 2000).
/// - `KITH_SIM_CAMPAIGN_SECONDS=S`: the time box (default 600): the campaign stops early, and says so.
final class FaultCampaignTests: XCTestCase {
    func testThousandsOfRandomFaultSchedulesKeepTheMembershipPropertiesAndEndInAgreement() {
        let target = SimSeeds.environment("KITH_SIM_CAMPAIGN").flatMap(Int.init) ?? 100
        let box = SimSeeds.environment("KITH_SIM_CAMPAIGN_SECONDS").flatMap(Double.init) ?? 600
        let seeds = SimSeeds.environment("KITH_SIM_SEED") != nil ? SimSeeds.list(default: 1) : SimSeeds.list(default: target, base: 50_000)
        var ran = 0, faults = 0, detections = 0, verdicts = 0
        var settle = Figures()
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        func elapsed() -> Double {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            return Double(now.tv_sec - start.tv_sec) + Double(now.tv_nsec - start.tv_nsec) / 1e9
        }
        for seed in seeds {
            guard elapsed() < box else { break }
            // Every other schedule on a lossy network (dead verdicts are judged on a clean one only).
            let sim = Simulation(seed: seed, network: seed % 2 == 0 ? .init() : .lossy(0.01))
            sim.testName = filterPattern
            let monitor = MembershipMonitor()
            sim.monitor = monitor
            sim.startCluster(nodes: 4 + Int(seed % 3))
            sim.run(for: .seconds(2))
            let schedule = Chaos.schedule(seed: seed, nodes: sim.nodeNames, duration: .seconds(8), meanGap: .seconds(1))
            sim.run(schedule)
            sim.heal()
            sim.resumeAll()
            let took = sim.run(until: { $0.isConverged }, timeout: .seconds(30))
            settle.add(took)
            expect(took != nil, sim, "no agreement 30 s after the faults ended")
            // Long enough after the last crash for its detection bound to be checked, and agreement to hold.
            sim.run(for: monitor.detectionMax + .seconds(1))
            expect(monitor.violations.isEmpty, sim, "broken during the run: \(monitor.violations.prefix(3))")
            expect(sim.codecFailures == 0, sim, "frames the codec rejected")
            ran += 1
            faults += schedule.count
            detections += monitor.checkedDetections
            verdicts += monitor.checkedDeadVerdicts
        }
        let seconds = Int(elapsed())
        figure("\(ran) random fault schedules (4-6 nodes, 8 s of faults each, half of them with 1% loss) in \(seconds) s: \(faults) faults,"
               + " \(detections) crash detections and \(verdicts) dead verdicts checked; agreement \(settle.description) after the heal"
               + (ran < seeds.count ? "; STOPPED by the \(Int(box)) s time box before \(seeds.count)" : ""))
        XCTAssertGreaterThan(ran, 0, "the time box left no room for a single schedule")
    }
}
