import Foundation
import Glibc
import KithControl
import KithCore
import KithReport

/// `bench messages`: agent-to-agent message throughput and latency between two
/// real daemons on loopback. Each trial is a fresh 2-node cluster with a
/// `kith-agent --sink` on n2 and a `kith-agent --flood sink` on n1; the figures
/// are what the agents print in their logs (`DATA/agents/NAME.log`). Then a
/// back-pressure trial: the sink stops reading, the flood goes on, and the
/// daemons' RSS and drop counters show whether memory stays bounded.
package enum BenchMessages {
    /// Bound on setup waits (convergence, agents running).
    package static let timeout = 30.0
    /// Assumed worst-case rate for bounding a flood's wait: far below the target, so only a hang times out.
    package static let slowestRate = 5000.0

    private struct Trial {
        var ok = 0, failed = 0, arrived = 0
        /// Sends the daemon refused with "retry" (a congested link or a full outbox) and the flood sent again.
        var retried = 0
        var complete = false
        var floodRate = 0.0, sinkRate = 0.0
        var p50 = 0.0, p99 = 0.0, max = 0.0
        /// Process → CPU time it spent per message over the run (flood start to sink done), in µs.
        var cpu: [String: Double] = [:]
        /// Messages answered ok that the daemons dropped: n1's full link to n2 (`frames_dropped`),
        /// n2's full queue to the sink (`agent_messages_dropped`), summed over both nodes.
        var framesDropped = 0, messagesDropped = 0
    }

    private struct Settings {
        var count: Int
        var payloadBytes: Int
        var window: Int
        var kithAgent: String
    }

    /// Runs `trials` floods of `count` messages on fresh 2-node clusters, then the back-pressure trial
    /// (`backPressureCount` messages; 0 skips it), and prints the figures.
    package static func run(count: Int, trials: Int, payloadBytes: Int, window: Int, backPressureCount: Int, kithd: String,
                    kithAgent: String, json: Bool) throws {
        let settings = Settings(count: count, payloadBytes: payloadBytes, window: window, kithAgent: kithAgent)
        Interrupt.install()

        var results: [Trial] = []
        for trial in 1...trials {
            printError("trial \(trial)/\(trials): \(count) messages n1 -> n2, payload ~\(payloadBytes) B, window \(window)")
            let result = try Cluster.with(count: 2, kithd: kithd) { cluster in try runTrial(cluster, settings) }
            printError("  \(Int(result.sinkRate)) msgs/s, p50 \(micros(result.p50)), p99 \(micros(result.p99)), "
                       + "arrived \(result.arrived)/\(count), failed \(result.failed)")
            results.append(result)
        }
        var backPressure: JSON?
        if backPressureCount > 0 {
            printError("back-pressure: stalled sink on n2, \(backPressureCount) messages from n1")
            var flood = settings
            flood.count = backPressureCount
            backPressure = try Cluster.with(count: 2, kithd: kithd) { cluster in try runBackPressure(cluster, flood) }
        }
        report(results, settings: settings, trials: trials, backPressure: backPressure, json: json)
    }

    /// What `checkRatio` requires of the rate at window 10,000 against window 1,000.
    package static let minWindowRatio = 0.8

    /// The message path's regression guard (`--check-ratio`): the routed rate at window 10,000
    /// against window 1,000, trials of each taken in turn in this one run, so a slow or busy
    /// machine slows both alike (an absolute rate would judge the machine). Throws when the
    /// ratio of the medians is below `minWindowRatio`, or a message was lost or failed.
    package static func checkRatio(count: Int, trials: Int, payloadBytes: Int, kithd: String, kithAgent: String, json: Bool) throws {
        Interrupt.install()
        let windows = [1000, 10000]
        var rates: [Int: [Double]] = [:]
        var problems: [String] = []
        for trial in 1...trials {
            for window in windows {
                let settings = Settings(count: count, payloadBytes: payloadBytes, window: window, kithAgent: kithAgent)
                printError("trial \(trial)/\(trials), window \(window): \(count) messages n1 -> n2")
                let result = try Cluster.with(count: 2, kithd: kithd) { cluster in try runTrial(cluster, settings) }
                printError("  \(Int(result.sinkRate)) msgs/s, arrived \(result.arrived)/\(count), failed \(result.failed), "
                           + "retried \(result.retried)")
                rates[window, default: []].append(result.sinkRate)
                if !result.complete || result.failed > 0 {
                    problems.append("window \(window): \(result.arrived) of \(count) arrived, \(result.failed) failed")
                }
            }
        }
        func median(_ values: [Double]) -> Double {
            let sorted = values.sorted()
            return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
        let small = median(rates[1000] ?? [0]), large = median(rates[10000] ?? [0])
        let ratio = small > 0 ? large / small : 0
        if ratio < minWindowRatio {
            problems.append(String(format: "window 10000 routes %.2f of window 1000's rate, below %.2f", ratio, minWindowRatio))
        }
        if json {
            print(JSON.object([
                "count": .int(Int64(count)), "trials": .int(Int64(trials)),
                "rate_window_1000": .double(Bench.rounded(small)), "rate_window_10000": .double(Bench.rounded(large)),
                "ratio": .double(Bench.rounded(ratio)), "min_ratio": .double(minWindowRatio), "ok": .bool(problems.isEmpty),
                "problems": .array(problems.map(JSON.string)),
            ]).serialized(pretty: true))
        } else {
            print(String(format: "window 1000: %.0f msgs/s, window 10000: %.0f msgs/s, ratio %.2f (at least %.2f): ",
                         small, large, ratio, minWindowRatio) + (problems.isEmpty ? "ok" : "FAILED"))
        }
        guard problems.isEmpty else { throw Failure(problems.joined(separator: "; ")) }
    }

    // MARK: Trials

    private static func runTrial(_ cluster: Cluster, _ settings: Settings) throws -> Trial {
        let (n1, n2) = try boot(cluster)
        try startAgent("sink", on: n2, args: ["--sink", "--expect", String(settings.count)], cluster, settings)
        try waitReady(cluster, sinkOn: n2, line: "sink ready", observer: n1)
        let sinkPid = agentPid("sink", at: n2)

        let processes: [(String, () -> Int32?)] = [("n1_kithd", { n1.pid }), ("n2_kithd", { n2.pid }),
                                                    ("flood", { agentPid("flood", at: n1) }), ("sink", { sinkPid })]
        let cpuBefore = [("n1_kithd", n1.pid), ("n2_kithd", n2.pid), ("sink", sinkPid ?? 0)]
            .reduce(into: [String: Double]()) { $0[$1.0] = Processes.cpuSeconds(of: $1.1) }
        let statusBefore = try [n1, n2].map { try status(of: $0) }
        try startAgent("flood", on: n1, args: ["--flood", "sink", "--count", String(settings.count),
                                               "--window", String(settings.window),
                                               "--payload-bytes", String(settings.payloadBytes)], cluster, settings)
        let floodLog = agentLog("flood", on: n1)
        let sinkLog = agentLog("sink", on: n2)
        let floodTimeout = timeout + Double(settings.count) / slowestRate
        let flood = try Waiting.poll(every: 50, timeout: floodTimeout, "no 'flood done' in \(floodLog) within \(Int(floodTimeout)) s: \(tail(floodLog))") {
            try cluster.checkStillRunning()
            return lastLine(in: floodLog, prefix: "flood done ").map(fields)
        }
        let partialsAtFloodEnd = lines(in: sinkLog).filter { $0.hasPrefix("sink partial ") }.count
        // The sink says "partial" after 3 s without arrivals; one printed after the flood ended is final.
        let sink = try Waiting.poll(every: 50, timeout: timeout, "no 'sink done' in \(sinkLog) within \(Int(timeout)) s: \(tail(sinkLog))") {
            () -> [String: String]? in
            let all = lines(in: sinkLog)
            if let done = all.last(where: { $0.hasPrefix("sink done ") }) { return fields(done) }
            let partials = all.filter { $0.hasPrefix("sink partial ") }
            return partials.count > partialsAtFloodEnd ? partials.last.map(fields) : nil
        }
        var trial = Trial()
        for (name, pid) in processes {
            guard let pid = pid(), let after = Processes.cpuSeconds(of: pid) else { continue }
            // The flood started after the snapshot: all its CPU time belongs to this run.
            guard let before = cpuBefore[name] ?? (name == "flood" ? 0 : nil) else { continue }
            trial.cpu[name] = (after - before) / Double(settings.count) * 1e6
        }
        let statusAfter = try [n1, n2].map { try status(of: $0) }
        for index in 0..<2 {
            func delta(_ key: String) -> Int {
                Int((statusAfter[index][key]?.intValue ?? 0) - (statusBefore[index][key]?.intValue ?? 0))
            }
            trial.framesDropped += delta("frames_dropped")
            trial.messagesDropped += delta("agent_messages_dropped")
        }
        trial.ok = Int(flood["ok"] ?? "") ?? 0
        trial.failed = Int(flood["failed"] ?? "") ?? 0
        trial.retried = Int(flood["retried"] ?? "") ?? 0
        trial.floodRate = Double(flood["rate"] ?? "") ?? 0
        trial.arrived = Int(sink["count"] ?? "") ?? 0
        trial.complete = trial.arrived >= settings.count
        trial.sinkRate = Double(sink["rate"] ?? "") ?? 0
        trial.p50 = Double(sink["p50_us"] ?? "") ?? 0
        trial.p99 = Double(sink["p99_us"] ?? "") ?? 0
        trial.max = Double(sink["max_us"] ?? "") ?? 0
        return trial
    }

    /// A stalled sink on n2, a flood from n1: the daemons' RSS before, at peak and after, and their drop counters.
    private static func runBackPressure(_ cluster: Cluster, _ settings: Settings) throws -> JSON {
        let (n1, n2) = try boot(cluster)
        try startAgent("sink", on: n2, args: ["--sink", "--stall"], cluster, settings)
        try waitReady(cluster, sinkOn: n2, line: "sink stalled", observer: n1)
        try Waiting.sleep(milliseconds: 500)
        let nodes = [n1, n2]
        let before = try nodes.map { try status(of: $0) }
        var peak = before.map { $0["rss_bytes"]?.doubleValue ?? 0 }

        try startAgent("flood", on: n1, args: ["--flood", "sink", "--count", String(settings.count),
                                               "--window", String(settings.window),
                                               "--payload-bytes", String(settings.payloadBytes)], cluster, settings)
        let floodLog = agentLog("flood", on: n1)
        let floodTimeout = timeout + Double(settings.count) / slowestRate
        let flood = try Waiting.poll(every: 100, timeout: floodTimeout, "no 'flood done' in \(floodLog) within \(Int(floodTimeout)) s: \(tail(floodLog))") {
            try cluster.checkStillRunning()
            for (index, node) in nodes.enumerated() {
                if let rss = try? status(of: node)["rss_bytes"]?.doubleValue { peak[index] = max(peak[index], rss) }
            }
            return lastLine(in: floodLog, prefix: "flood done ").map(fields)
        }
        // Let whatever is in flight settle, then read the counters again.
        try Waiting.sleep(milliseconds: 1000)
        let after = try nodes.map { try status(of: $0) }
        for index in nodes.indices { peak[index] = max(peak[index], after[index]["rss_bytes"]?.doubleValue ?? 0) }

        let counters = ["agent_messages_routed", "agent_messages_dropped", "frames_dropped"]
        var perNode: [String: JSON] = [:]
        for (index, node) in nodes.enumerated() {
            var entry: [String: JSON] = [
                "rss_before_bytes": before[index]["rss_bytes"] ?? .null,
                "rss_peak_bytes": .int(Int64(peak[index])),
                "rss_after_bytes": after[index]["rss_bytes"] ?? .null,
            ]
            for counter in counters {
                let delta = (after[index][counter]?.intValue ?? 0) - (before[index][counter]?.intValue ?? 0)
                entry[counter] = .int(delta)
            }
            perNode[node.name] = .object(entry)
        }
        return [
            "count": .int(Int64(settings.count)),
            "flood_ok": .int(Int64(Int(flood["ok"] ?? "") ?? 0)),
            "flood_failed": .int(Int64(Int(flood["failed"] ?? "") ?? 0)),
            "flood_rate_msgs_per_sec": .double(Double(flood["rate"] ?? "") ?? 0),
            "nodes": .object(perNode),
        ]
    }

    /// Starts both daemons and waits until they see each other.
    private static func boot(_ cluster: Cluster) throws -> (LabNode, LabNode) {
        try cluster.startAll()
        try cluster.waitConverged(timeout: timeout)
        return (cluster.nodes[0], cluster.nodes[1])
    }

    /// Starts a kith-agent named `name` on `node` with `args`, signed with the cluster's throwaway
    /// operator key (the key these daemons obey; the operator's own key is never touched).
    private static func startAgent(_ name: String, on node: LabNode, args: [String], _ cluster: Cluster, _ settings: Settings) throws {
        let spec: JSON = ["name": .string(name), "command": .string(settings.kithAgent),
                          "args": .array(args.map(JSON.string)), "policy": "none"]
        let reply = try ControlClient(address: node.control, signer: cluster.signer)
            .request(["cmd": "agent_start", "spec": spec, "on": .string(node.name)])
        guard reply["ok"]?.boolValue == true else {
            throw Failure("agent_start \(name) on \(node.name) refused: \(reply["error"]?.stringValue ?? reply.serialized())")
        }
    }

    /// Waits until the sink has said hello (its log has `line`) and `observer` knows it runs,
    /// so the flood's first message is routed rather than refused or held.
    private static func waitReady(_ cluster: Cluster, sinkOn node: LabNode, line: String, observer: LabNode) throws {
        let log = agentLog("sink", on: node)
        try Waiting.poll(every: 20, timeout: timeout, "the sink on \(node.name) did not start: \(tail(log))") { () -> Void? in
            try cluster.checkStillRunning()
            return lastLine(in: log, prefix: line) != nil ? () : nil
        }
        _ = try AgentViews.waitRunning(["sink"], at: observer.control, timeout: timeout) { try cluster.checkStillRunning() }
    }

    private static func status(of node: LabNode) throws -> JSON {
        try ControlClient(address: node.control, timeoutMilliseconds: 2000).request(["cmd": "status"])
    }

    private static func agentPid(_ name: String, at node: LabNode) -> Int32? {
        guard let pid = AgentViews.byName(at: node.control, timeoutMilliseconds: 2000)?[name]?["pid"]?.intValue, pid > 0 else { return nil }
        return Int32(truncatingIfNeeded: pid)
    }

    // MARK: Agent logs

    package static func agentLog(_ name: String, on node: LabNode) -> String { node.dataDir + "/agents/" + name + ".log" }

    /// The text of each line of an agent's log (`AgentLogLine`: without its time and stream).
    package static func lines(in path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map { AgentLogLine.parse(String($0)).text }
    }

    package static func lastLine(in path: String, prefix: String) -> String? {
        lines(in: path).last { $0.hasPrefix(prefix) }
    }

    /// `key=value` words of an agent's report line.
    package static func fields(_ line: String) -> [String: String] {
        var fields: [String: String] = [:]
        for word in line.split(separator: " ") {
            guard let equals = word.firstIndex(of: "=") else { continue }
            fields[String(word[..<equals])] = String(word[word.index(after: equals)...])
        }
        return fields
    }

    private static func tail(_ path: String) -> String {
        let last = lines(in: path).suffix(3)
        return last.isEmpty ? "(empty log)" : last.joined(separator: " | ")
    }

    // MARK: Report

    private static func micros(_ value: Double) -> String {
        value < 1000 ? "\(Int(value.rounded()))µs" : (value < 1_000_000 ? String(format: "%.1fms", value / 1000) : String(format: "%.2fs", value / 1e6))
    }

    private static func report(_ results: [Trial], settings: Settings, trials: Int, backPressure: JSON?, json: Bool) {
        var samples = Samples()
        for trial in results {
            samples.add("rate_msgs_per_sec", trial.sinkRate)
            samples.add("flood_rate_msgs_per_sec", trial.floodRate)
            samples.add("p50_us", trial.p50)
            samples.add("p99_us", trial.p99)
            samples.add("max_us", trial.max)
            for (name, micros) in trial.cpu { samples.add("cpu_us_per_msg_" + name, micros) }
            if trial.cpu.count == 4 { samples.add("cpu_us_per_msg_total", trial.cpu.values.reduce(0, +)) }
        }
        let framesDropped = results.reduce(0) { $0 + $1.framesDropped }
        let messagesDropped = results.reduce(0) { $0 + $1.messagesDropped }
        let sent = results.reduce(0) { $0 + $1.ok + $1.failed }
        let ok = results.reduce(0) { $0 + $1.ok }
        let failed = results.reduce(0) { $0 + $1.failed }
        let retried = results.reduce(0) { $0 + $1.retried }
        let arrived = results.reduce(0) { $0 + $1.arrived }
        let expected = settings.count * results.count
        let metrics: [(key: String, label: String, format: (Double) -> String)] = [
            ("rate_msgs_per_sec", "throughput at the sink (msgs/s, first to last arrival)", { String(format: "%.0f", $0) }),
            ("flood_rate_msgs_per_sec", "flood request rate (msgs/s, all replies in)", { String(format: "%.0f", $0) }),
            ("p50_us", "latency p50 (flood send to sink read)", micros),
            ("p99_us", "latency p99", micros),
            ("max_us", "latency max", micros),
            ("cpu_us_per_msg_n1_kithd", "CPU per message: n1 kithd (µs)", { String(format: "%.1f", $0) }),
            ("cpu_us_per_msg_n2_kithd", "CPU per message: n2 kithd (µs)", { String(format: "%.1f", $0) }),
            ("cpu_us_per_msg_flood", "CPU per message: flood agent (µs)", { String(format: "%.1f", $0) }),
            ("cpu_us_per_msg_sink", "CPU per message: sink agent (µs)", { String(format: "%.1f", $0) }),
            ("cpu_us_per_msg_total", "CPU per message: all four (µs)", { String(format: "%.1f", $0) }),
        ]

        if json {
            var report: [String: JSON] = [
                "nodes": 2, "count": .int(Int64(settings.count)), "trials": .int(Int64(trials)),
                "payload_bytes": .int(Int64(settings.payloadBytes)), "window": .int(Int64(settings.window)),
                "sent": .int(Int64(sent)), "ok": .int(Int64(ok)), "failed": .int(Int64(failed)), "retried": .int(Int64(retried)),
                "arrived": .int(Int64(arrived)), "expected": .int(Int64(expected)),
                "frames_dropped": .int(Int64(framesDropped)), "agent_messages_dropped": .int(Int64(messagesDropped)),
            ]
            for metric in metrics {
                guard let summary = samples.summary(metric.key) else { continue }
                report[metric.key] = ["median": .double(Bench.rounded(summary.median)), "max": .double(Bench.rounded(summary.max))]
            }
            if let backPressure { report["backpressure"] = backPressure }
            print(JSON.object(report).serialized(pretty: true))
            return
        }
        print("Messages bench: flood on n1 -> sink on n2, \(settings.count) messages x \(trials) trial(s), "
              + "payload ~\(settings.payloadBytes) B, window \(settings.window)")
        let rows = metrics.compactMap { metric in
            samples.summary(metric.key).map { [metric.label, metric.format($0.median), metric.format($0.max)] }
        }
        print(Table.render(header: ["METRIC", "MEDIAN", "MAX"], rows: rows), terminator: "")
        print("sent \(sent) (ok \(ok), failed \(failed), refused with retry and sent again \(retried)), arrived \(arrived) of \(expected)"
              + (arrived < ok ? ": \(ok - arrived) answered ok but never delivered" : "")
              + "; daemons counted frames_dropped \(framesDropped), agent_messages_dropped \(messagesDropped)")
        guard let backPressure else { return }
        print("")
        print("Back-pressure: sink on n2 stops reading; flood of \(Table.cell(backPressure["count"])) messages from n1 "
              + "(ok \(Table.cell(backPressure["flood_ok"])), failed \(Table.cell(backPressure["flood_failed"])), "
              + "\(Table.cell(backPressure["flood_rate_msgs_per_sec"])) msgs/s)")
        let nodeRows = ["n1", "n2"].map { name -> [String] in
            let node = backPressure["nodes"]?[name]
            func bytes(_ key: String) -> String { node?[key]?.doubleValue.map(Table.bytes) ?? "-" }
            return [name, bytes("rss_before_bytes"), bytes("rss_peak_bytes"), bytes("rss_after_bytes"),
                    Table.cell(node?["agent_messages_routed"]), Table.cell(node?["agent_messages_dropped"]),
                    Table.cell(node?["frames_dropped"])]
        }
        print(Table.render(header: ["NODE", "RSS BEFORE", "RSS PEAK", "RSS AFTER", "ROUTED", "AGENT MSGS DROPPED", "FRAMES DROPPED"],
                           rows: nodeRows), terminator: "")
    }
}
