import Foundation
import Glibc
import KithControl
import KithCore
import KithReport

/// `bench membership`: the numbers the membership defaults are judged by, from
/// real daemons on loopback, each trial on a fresh cluster.
package enum Bench {
    /// Quiet time after convergence or recovery, so the next measurement starts from a calm cluster.
    package static let settleMilliseconds = 2000
    /// The daemons' default `join_sync_window_ms`.
    package static let joinSyncMilliseconds = 5000
    /// Generous bound on any single wait; the targets are one to three seconds.
    package static let timeout = 30.0

    private enum Unit {
        case milliseconds, percent, megabytes, bytesPerSecond, seconds, count

        func format(_ value: Double) -> String {
            switch self {
            case .milliseconds: Table.duration(value)
            case .percent: String(format: "%.2f%%", value)
            case .megabytes: String(format: "%.1f MiB", value)
            case .bytesPerSecond: String(format: "%.0f B/s", value)
            case .seconds: String(format: "%.2f s", value)
            case .count: String(format: "%.1f", value)
            }
        }
    }

    private static let metrics: [(key: String, label: String, unit: Unit)] = [
        ("join_ms", "join convergence", .milliseconds),
        ("join_cpu_s", "daemons' CPU until converged, all together", .seconds),
        ("join_load", "load average (1 min) once converged", .count),
        ("crash_first_ms", "crash (SIGKILL) seen dead, first survivor", .milliseconds),
        ("crash_last_ms", "crash (SIGKILL) seen dead, last survivor", .milliseconds),
        ("stop_first_ms", "pause (SIGSTOP) seen dead, first survivor", .milliseconds),
        ("stop_last_ms", "pause (SIGSTOP) seen dead, last survivor", .milliseconds),
        ("idle_cpu_percent", "idle CPU per daemon (% of one core)", .percent),
        ("idle_cpu_total_percent", "idle CPU of all daemons together (% of one core)", .percent),
        ("idle_load", "load average (1 min) after the idle window", .count),
        ("idle_dead_views", "members seen dead after the idle window (false dead)", .count),
        ("rss_mb", "RSS per daemon", .megabytes),
        ("gossip_bytes_per_sec", "idle gossip sent per node", .bytesPerSecond),
    ]

    /// Runs `trials` fresh clusters of `count` daemons and prints the medians and maxima (as JSON with `json`).
    package static func run(count: Int, trials: Int, idleSeconds: Int, kithd: String, json: Bool) throws {
        Interrupt.install()

        var samples = Samples()
        for trial in 1...trials {
            printError("trial \(trial)/\(trials): \(count) nodes")
            try Cluster.with(count: count, kithd: kithd) { cluster in
                try runTrial(cluster, idleSeconds: idleSeconds, into: &samples)
            }
        }

        if json {
            var report: [String: JSON] = ["nodes": .int(Int64(count)), "trials": .int(Int64(trials)),
                                          "idle_seconds": .int(Int64(idleSeconds))]
            for metric in metrics {
                guard let summary = samples.summary(metric.key) else { continue }
                report[metric.key] = ["median": .double(rounded(summary.median)), "max": .double(rounded(summary.max))]
            }
            print(JSON.object(report).serialized(pretty: true))
        } else {
            print("Membership bench: \(count) nodes, \(trials) trial(s), \(idleSeconds) s idle window")
            let rows = metrics.compactMap { metric in
                samples.summary(metric.key).map { [metric.label, metric.unit.format($0.median), metric.unit.format($0.max)] }
            }
            print(Table.render(header: ["METRIC", "MEDIAN", "MAX"], rows: rows), terminator: "")
        }
    }

    package static func rounded(_ value: Double) -> Double { (value * 100).rounded() / 100 }

    /// Join, idle window, pause detection and recovery, then crash detection, on one cluster.
    private static func runTrial(_ cluster: Cluster, idleSeconds: Int, into samples: inout Samples) throws {
        let booted = Waiting.clock.now
        try cluster.startAll()
        try cluster.waitConverged(timeout: timeout)
        samples.add("join_ms", Waiting.milliseconds(since: booted))
        samples.add("join_cpu_s", cluster.daemonCPUSeconds())
        samples.add("join_load", loadAverage())
        // Idle means steady state: past the join-sync window (5 s of push-pull every 500 ms after boot).
        try Waiting.sleep(milliseconds: joinSyncMilliseconds + settleMilliseconds)

        try measureIdle(cluster.nodes, seconds: idleSeconds, into: &samples)
        samples.add("idle_load", loadAverage())
        samples.add("idle_dead_views", Double(deadViews(cluster.nodes)))

        let paused = victim(in: cluster.nodes)
        let pausedAt = Waiting.clock.now
        cluster.signal(SIGSTOP, paused)
        let pauseTimes = try Views.waitFor(paused.name, toBe: "dead", by: cluster.nodes.filter { $0.name != paused.name },
                                           since: pausedAt, timeout: timeout)
        samples.add("stop_first_ms", pauseTimes.values.min() ?? 0)
        samples.add("stop_last_ms", pauseTimes.values.max() ?? 0)
        cluster.signal(SIGCONT, paused)
        _ = try Views.waitFor(paused.name, toBe: "alive", by: cluster.nodes, since: Waiting.clock.now, timeout: timeout)
        try Waiting.sleep(milliseconds: settleMilliseconds)

        let crashed = victim(in: cluster.nodes)
        let crashedAt = Waiting.clock.now
        cluster.signal(SIGKILL, crashed)
        let crashTimes = try Views.waitFor(crashed.name, toBe: "dead", by: cluster.nodes.filter { $0.name != crashed.name },
                                           since: crashedAt, timeout: timeout)
        samples.add("crash_first_ms", crashTimes.values.min() ?? 0)
        samples.add("crash_last_ms", crashTimes.values.max() ?? 0)
    }

    /// A random node that is not a seed (n1..n3), or not n1 in clusters too small to have one.
    private static func victim(in nodes: [LabNode]) -> LabNode {
        let candidates = nodes.count > LabLayout.seedCount ? nodes.dropFirst(LabLayout.seedCount) : nodes.dropFirst()
        return candidates.randomElement()!
    }

    /// CPU, RSS and gossip sent over a window in which nothing happens to the cluster.
    private static func measureIdle(_ nodes: [LabNode], seconds: Int, into samples: inout Samples) throws {
        let cpuBefore = nodes.map { Processes.cpuSeconds(of: $0.pid) }
        let sentBefore = try nodes.map(gossipSent)
        let start = Waiting.clock.now
        try Waiting.sleep(milliseconds: seconds * 1000)
        let elapsedSeconds = Waiting.milliseconds(since: start) / 1000
        let sentAfter = try nodes.map(gossipSent)
        var total = 0.0
        for (index, node) in nodes.enumerated() {
            if let before = cpuBefore[index], let after = Processes.cpuSeconds(of: node.pid) {
                samples.add("idle_cpu_percent", (after - before) / elapsedSeconds * 100)
                total += (after - before) / elapsedSeconds * 100
            }
            if let rss = Processes.residentBytes(of: node.pid) {
                samples.add("rss_mb", rss / 1_048_576)
            }
            samples.add("gossip_bytes_per_sec", (sentAfter[index] - sentBefore[index]) / elapsedSeconds)
        }
        samples.add("idle_cpu_total_percent", total)
    }

    /// How many (observer, member) pairs read dead, over every node's table: after an idle window in
    /// which nothing failed, each is a false death (a boot declared dead stays dead).
    private static func deadViews(_ nodes: [LabNode]) -> Int {
        nodes.reduce(0) { count, node in
            count + (Views.states(at: node.control)?.values.count { $0 == "dead" } ?? 0)
        }
    }

    /// The machine's 1-minute load average, printed beside each figure: on a shared machine it says
    /// how much the daemons had to compete for the CPU.
    private static func loadAverage() -> Double {
        var loads = [Double](repeating: 0, count: 3)
        return getloadavg(&loads, 3) > 0 ? loads[0] : 0
    }

    private static func gossipSent(_ node: LabNode) throws -> Double {
        let status = try ControlClient(address: node.control).request(["cmd": "status"])
        guard let sent = status["gossip_bytes_sent"]?.doubleValue else {
            throw Failure("\(node.name)'s status has no gossip_bytes_sent")
        }
        return sent
    }
}
