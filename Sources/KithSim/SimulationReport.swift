import KithCore

/// What to print when a property fails: the seed, a one-line replay
/// command, the state of the run and the faults that led there.
public struct SimulationReport: Sendable, CustomStringConvertible {
    public var headline: String
    public var seed: UInt64
    /// The `swift test --filter` pattern of the failing test, e.g. `KithSimTests.JoinTests/testX`.
    public var test: String
    public var time: Instant
    public var details: [String]

    /// `replay: KITH_SIM_SEED=1234 swift test --filter KithSimTests.JoinTests/testX`
    public var replay: String { "replay: KITH_SIM_SEED=\(seed) swift test --filter \(test)" }

    public var description: String {
        (["\(headline) [seed \(seed), at \(Simulation.format(time))]", replay] + details.map { "  " + $0 })
            .joined(separator: "\n")
    }
}

extension Simulation {
    /// A failure report: the headline, the replay line, each node's process
    /// and boot, the network counters, the faults and up to `limit` disagreements.
    public func report(_ headline: String, test: String, limit: Int = 20) -> SimulationReport {
        var details: [String] = []
        details.append("nodes: " + nodes.map { node in
            node.process == .running ? "\(node.id)" : "\(node.id) \(node.process)"
        }.joined(separator: " "))
        details.append("network: \(stats)")
        details.append("events: \(eventsProcessed), observations: \(observationCount), refutations: \(refutations.count)")
        if !faults.isEmpty {
            let scripted = faults.filter { !$0.action.hasPrefix("add ") }
            details.append("faults (\(scripted.count)):")
            details += scripted.suffix(limit * 2).map { "  \($0)" }
        }
        let problems = disagreements(limit: limit)
        if !problems.isEmpty {
            details.append("disagreements:")
            details += problems.map { "  \($0)" }
        }
        if !anomalies.isEmpty {
            details.append("anomalies:")
            details += anomalies.prefix(limit).map { "  \($0)" }
        }
        return SimulationReport(headline: headline, seed: seed, test: test, time: now, details: details)
    }

    /// One line: seed, clock, nodes, events and network counters.
    public var summary: String {
        "seed \(seed), t=\(Simulation.format(now)), \(upCount)/\(nodes.count) nodes up, \(eventsProcessed) events, \(stats)"
    }

    /// A duration as seconds with millisecond precision ("1.234 s"), or
    /// as milliseconds below 10 ms ("0.512 ms").
    public static func format(_ duration: Duration) -> String {
        let ns = duration.nanoseconds
        let sign = ns < 0 ? "-" : ""
        let magnitude = ns.magnitude
        func fixed(_ value: UInt64, _ unit: String) -> String {
            let frac = String(value % 1_000)
            return "\(sign)\(value / 1_000).\(String(repeating: "0", count: 3 - frac.count))\(frac) \(unit)"
        }
        if magnitude < 10_000_000 { return fixed((magnitude + 500) / 1_000, "ms") }
        return fixed((magnitude + 500_000) / 1_000_000, "s")
    }

    /// An instant of virtual time, as seconds since the simulation began.
    public static func format(_ instant: Instant) -> String {
        format(instant.since(.zero))
    }

    /// Every observation in order, one per line (for debugging a replay).
    public func history(of subject: String? = nil) -> String {
        observations.filter { subject == nil || $0.subject.name == subject }.map(\.description)
            .joined(separator: "\n")
    }
}
