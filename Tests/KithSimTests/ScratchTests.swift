import XCTest
@testable import KithCore
@testable import KithSim

final class ScratchTests: XCTestCase {
    func testScratch() {
        let seed: UInt64 = 3
        let sim = Simulation(seed: seed)
        sim.startCluster(nodes: 10)
        sim.run(for: .seconds(2))
        let schedule = Chaos.schedule(seed: seed, nodes: sim.nodeNames, duration: .seconds(20), meanGap: .milliseconds(800))
        let start = sim.now
        for item in schedule {
            let at = start + item.at
            while let t = sim.queue.nextTime, t <= at {
                sim.step()
                if !sim.anomalies.isEmpty {
                    print(sim.anomalies)
                    let name = String(sim.anomalies[0].split(separator: "#")[0])
                    let m = sim.membership(name)!
                    print("now", sim.now, "probe", m.probe as Any, "nextProbeAt", m.nextProbeAt, "pp", m.nextPushPullAt, "join", m.nextJoinAt, "needsSeeds", m.needsSeeds, "reconnect", m.nextReconnectAt, "reap", m.nextReapAt)
                    print("relays", m.relays)
                    print("suspicions", m.suspicions)
                    print("table", m.members.map { "\($0.id) \($0.status) \($0.incarnation)" })
                    return
                }
            }
            sim.apply(item.fault)
        }
    }
}
