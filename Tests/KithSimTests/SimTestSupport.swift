import XCTest
import KithCore
@testable import KithSim

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Seeds for the properties.
///
/// - `KITH_SIM_SEED=1234` runs only that seed (to replay a failure).
/// - `KITH_SIM_SEEDS=50` runs 50 seeds instead of each test's default.
enum SimSeeds {
    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    static func list(default count: Int, base: UInt64 = 1) -> [UInt64] {
        if let pinned = environment("KITH_SIM_SEED").flatMap(UInt64.init) { return [pinned] }
        let n = environment("KITH_SIM_SEEDS").flatMap(Int.init) ?? count
        return (0..<UInt64(max(n, 1))).map { base &+ $0 }
    }
}

extension XCTestCase {
    /// The `swift test --filter` pattern of the running test: `KithSimTests.Class/testMethod`.
    var filterPattern: String {
        // XCTest names tests "-[Class testMethod]" on Darwin and "Class.testMethod" on Linux.
        let cleaned = name.replacingOccurrences(of: "-[", with: "").replacingOccurrences(of: "]", with: "")
        let parts = cleaned.split(whereSeparator: { $0 == " " || $0 == "." }).map(String.init)
        let method = parts.last ?? name
        return "KithSimTests.\(String(describing: type(of: self)))/\(method)"
    }

    /// Fails with the simulation's report (seed and replay line) unless `condition` holds.
    func expect(_ condition: Bool, _ sim: Simulation, _ headline: @autoclosure () -> String,
                file: StaticString = #filePath, line: UInt = #line) {
        guard !condition else { return }
        XCTFail("\(sim.report(headline(), test: filterPattern))", file: file, line: line)
    }

    /// Runs until `condition` holds; fails with a report on timeout. Returns how long it took.
    @discardableResult
    func expectEventually(_ sim: Simulation, within timeout: Duration, _ what: String,
                          file: StaticString = #filePath, line: UInt = #line,
                          until condition: (Simulation) -> Bool) -> Duration? {
        let took = sim.run(until: condition, timeout: timeout)
        if took == nil {
            XCTFail("\(sim.report("\(what): not within \(Simulation.format(timeout))", test: filterPattern))",
                    file: file, line: line)
        }
        return took
    }

    /// Fails if the core did something a correct core never does.
    func expectNoAnomalies(_ sim: Simulation, file: StaticString = #filePath, line: UInt = #line) {
        expect(sim.anomalies.isEmpty, sim, "core anomalies", file: file, line: line)
    }

    /// A measured figure, for the log.
    func figure(_ text: String) {
        print("[kith-sim] \(String(describing: type(of: self))): \(text)")
    }
}

/// Figures over seeds: min/median/max of durations.
struct Figures {
    var values: [Duration] = []

    mutating func add(_ d: Duration?) { if let d { values.append(d) } }

    var description: String {
        guard !values.isEmpty else { return "no samples" }
        let s = values.sorted()
        return "min \(Simulation.format(s[0])), median \(Simulation.format(s[s.count / 2])), max \(Simulation.format(s[s.count - 1])) over \(s.count) runs"
    }
}

/// Wall-clock time of a block, for tuning the suite's budget.
func wallSeconds(_ body: () -> Void) -> Double {
    var start = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    body()
    var end = timespec()
    clock_gettime(CLOCK_MONOTONIC, &end)
    return Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
}

extension XCTestCase {
    /// A cluster of `nodes` started together and run until everyone sees
    /// everyone alive (fails the test if that takes over `within`).
    func formedCluster(_ nodes: Int, seed: UInt64, settings: MembershipSettings = .lan,
                       network: NetworkConditions = .init(), within: Duration = .seconds(30),
                       file: StaticString = #filePath, line: UInt = #line) -> Simulation {
        let sim = Simulation(seed: seed, settings: settings, network: network)
        sim.startCluster(nodes: nodes)
        expectEventually(sim, within: within, "\(nodes) nodes converge", file: file, line: line) {
            $0.everyoneSeesEveryoneAlive
        }
        return sim
    }
}
