import KithCore
import KithSim
import XCTest

/// One copy at a time across a polite stop and the guardians' relaunch: over
/// many seeds, no node starts a new copy while the stopped one is still
/// shutting down on a running node (the simulated supervisor lets a stopped
/// process linger up to its grace, as SIGTERM then SIGKILL would).
final class OneCopyPropertyTests: XCTestCase {
    func testAStopUnderGuardiansNeverOverlapsTheRelaunchedCopy() {
        var relaunched = 0
        var stops = 0
        let seeds = SimSeeds.list(default: 24, base: 31_000)
        for seed in seeds {
            var rng = SeededRandom(seed: seed)
            let asim = AgentSimulation(seed: seed)
            let sim = asim.sim
            sim.testName = filterPattern
            let nodes = sim.startCluster(nodes: 4)
            guard sim.run(until: { $0.everyoneSeesEveryoneAlive }, timeout: .seconds(10)) != nil else {
                return XCTFail(asim.report("seed \(seed): 4 nodes did not converge", test: filterPattern).description)
            }
            let names = (1...6).map { "a\($0)" }
            for (k, name) in names.enumerated() {
                let spec = AgentSpec(name: name, command: "/bin/agent", protects: [names[(k + 1) % names.count]], policy: .relaunch)
                do { try asim.start(spec, on: nodes[k % nodes.count], via: nodes[0]) } catch {
                    return XCTFail("seed \(seed): start \(name): \(error)")
                }
            }
            guard sim.run(until: { _ in asim.isSettled }, timeout: .seconds(10), resolution: .milliseconds(10)) != nil else {
                return XCTFail(asim.report("seed \(seed): the agents did not start", test: filterPattern).description)
            }
            for _ in 0..<4 {
                let agent = names[Int(rng.next() % UInt64(names.count))]
                let via = nodes[Int(rng.next() % UInt64(nodes.count))]
                if asim.command(.agentStop(agent), on: via)["ok"]?.boolValue == true { stops += 1 }
                sim.run(for: .milliseconds(200 + Int64(rng.next() % 2500)))
            }
            guard sim.run(until: { _ in asim.isSettled }, timeout: .seconds(20), resolution: .milliseconds(10)) != nil else {
                return XCTFail(asim.report("seed \(seed): the cluster did not settle after the stops", test: filterPattern).description)
            }
            XCTAssertEqual(asim.overlaps, [], "seed \(seed): a copy started while the stopped one still ran")
            XCTAssertEqual(asim.violations, [], "seed \(seed)")
            relaunched += asim.spawns.filter { $0.record.reason.contains("operator stop") }.count
        }
        XCTAssertGreaterThan(relaunched, seeds.count, "guardians seldom relaunched a stopped agent: the property is not exercised")
        figure("polite stops under relaunching guardians, \(seeds.count) seeds: \(stops) stops, \(relaunched) relaunches, "
               + "none while the stopped copy was still shutting down")
    }
}
