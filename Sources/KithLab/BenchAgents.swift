import Glibc
import KithCore
import KithReport

/// `bench agents`: how fast agents come back, from real daemons and real
/// kith-agents on loopback, each trial on a fresh cluster with the agent ring
/// of `lab up --agents` (policy relaunch): a killed agent restarted by its
/// own node, and a node's agents relaunched elsewhere after the node crashes
/// (SIGKILL) or silently stops (SIGSTOP).
package enum BenchAgents {
    /// Quiet time after the agents run or the cluster recovers: a few checkpoint intervals.
    package static let settleMilliseconds = 2000
    /// Generous bound on any single wait.
    package static let timeout = 30.0

    private static let metrics: [(key: String, label: String)] = [
        ("restart_ms", "local restart (agent SIGKILLed, running again on its node)"),
        ("crash_relaunch_ms", "relaunch elsewhere after host crash (kithd SIGKILLed)"),
        ("stop_detect_ms", "host pause (kithd SIGSTOPped) seen dead, first survivor"),
        ("stop_relaunch_ms", "relaunch elsewhere after host pause"),
        ("stop_relaunch_after_detect_ms", "  of which after the first detection"),
    ]

    /// Runs `trials` fresh clusters of `count` daemons with `perNode` agents each and prints the medians and maxima.
    package static func run(count: Int, perNode: Int, trials: Int, kithd: String, kithAgent: String, json: Bool) throws {
        Interrupt.install()

        var samples = Samples()
        for trial in 1...trials {
            printError("trial \(trial)/\(trials): \(count) nodes, \(perNode * count) agents")
            try Cluster.with(count: count, kithd: kithd) { cluster in
                try runTrial(cluster, perNode: perNode, kithAgent: kithAgent, into: &samples)
            }
        }

        if json {
            var report: [String: JSON] = ["nodes": .int(Int64(count)), "agents_per_node": .int(Int64(perNode)),
                                          "trials": .int(Int64(trials)), "policy": "relaunch"]
            for metric in metrics {
                guard let summary = samples.summary(metric.key) else { continue }
                report[metric.key] = ["median": .double(Bench.rounded(summary.median)), "max": .double(Bench.rounded(summary.max))]
            }
            print(JSON.object(report).serialized(pretty: true))
        } else {
            print("Agents bench: \(count) nodes, \(perNode) agents per node (\(perNode * count)), policy relaunch, \(trials) trial(s)")
            let rows = metrics.compactMap { metric in
                samples.summary(metric.key).map { [metric.label, Table.duration($0.median), Table.duration($0.max)] }
            }
            print(Table.render(header: ["METRIC", "MEDIAN", "MAX"], rows: rows), terminator: "")
        }
    }

    /// One agent's record, as far as the bench needs it.
    private struct Placed: Equatable {
        var node: String
        var pid: Int32
        var generation: Int64
        var state: String

        init?(_ json: JSON?) {
            guard let json, let node = json["node"]?.stringValue, let generation = json["generation"]?.intValue,
                  let state = json["state"]?.stringValue else { return nil }
            self.node = node
            self.pid = Int32(truncatingIfNeeded: json["pid"]?.intValue ?? 0)
            self.generation = generation
            self.state = state
        }
    }

    private static func runTrial(_ cluster: Cluster, perNode: Int, kithAgent: String, into samples: inout Samples) throws {
        try cluster.startAll()
        try cluster.waitConverged(timeout: timeout)
        let planned = AgentRing.plan(cluster.nodes, perNode: perNode, policy: "relaunch", kithAgent: kithAgent)
        try AgentRing.start(planned, signer: cluster.signer)
        _ = try AgentViews.waitRunning(Set(planned.map(\.name)), at: cluster.nodes[0].control, timeout: timeout) {
            try cluster.checkStillRunning()
        }
        try Waiting.sleep(milliseconds: settleMilliseconds)

        samples.add("restart_ms", try measureRestart(cluster, planned: planned))

        let paused = try victim(in: cluster, excluding: [])
        let pause = try measureStop(cluster, victim: paused)
        samples.add("stop_detect_ms", pause.detected)
        samples.add("stop_relaunch_ms", pause.relaunched)
        samples.add("stop_relaunch_after_detect_ms", max(0, pause.relaunched - pause.detected))
        try Waiting.sleep(milliseconds: settleMilliseconds)

        let crashed = try victim(in: cluster, excluding: [paused.name])
        samples.add("crash_relaunch_ms", try measureCrash(cluster, victim: crashed))
    }

    /// SIGKILLs one agent and times until its node reports it running again with a new pid.
    private static func measureRestart(_ cluster: Cluster, planned: [AgentRing.Planned]) throws -> Double {
        let chosen = planned.randomElement()!
        let host = chosen.node
        guard let before = Placed(AgentViews.byName(at: host.control)?[chosen.name]), before.state == "running",
              before.node == host.name else {
            throw Failure("\(chosen.name) is not running on \(host.name) before the restart measurement")
        }
        guard Processes.agents(under: cluster.directory).contains(before.pid) else {
            throw Failure("\(chosen.name)'s pid \(before.pid) is not an agent process of this bench")
        }
        printError("  SIGKILL agent \(chosen.name) (pid \(before.pid)) on \(host.name)")
        let killedAt = Waiting.clock.now
        kill(before.pid, SIGKILL)
        var last = "no answer"
        return try Waiting.poll(every: 3, timeout: timeout, "\(chosen.name) was not running again on \(host.name) within \(Int(timeout)) s: \(last)") {
            guard let now = Placed(AgentViews.byName(at: host.control)?[chosen.name]) else { return nil }
            last = "\(now.state) on \(now.node), pid \(now.pid), generation \(now.generation)"
            guard now.state == "running", now.pid > 0, now.pid != before.pid else { return nil }
            let elapsed = Waiting.milliseconds(since: killedAt)
            guard now.node == host.name, now.generation == before.generation else {
                throw Failure("\(chosen.name) moved instead of restarting locally: \(last)")
            }
            return elapsed
        }
    }

    /// SIGSTOPs `victim`, times the first survivor's verdict and the relaunch of
    /// all its agents, then SIGCONTs it and checks that its old copies are stopped.
    private static func measureStop(_ cluster: Cluster, victim: LabNode) throws -> (detected: Double, relaunched: Double) {
        let observer = cluster.nodes[0]
        let survivors = cluster.nodes.filter { $0.name != victim.name }
        let moving = try agents(on: victim, seenBy: observer)
        printError("  SIGSTOP \(victim.name) (pid \(victim.pid)), hosting \(moving.keys.sorted().joined(separator: ","))")
        let stoppedAt = Waiting.clock.now
        cluster.signal(SIGSTOP, victim)
        var detected: Double?
        var relaunched: Double?
        var last: [String: Placed] = [:]
        try Waiting.poll(every: 10, timeout: timeout, "after SIGSTOP of \(victim.name): "
                         + (detected == nil ? "no survivor saw it dead" : "not relaunched: \(describe(last, moving.keys))")) {
            () -> Void? in
            try cluster.checkStillRunning()
            if detected == nil {
                for survivor in survivors where Views.states(at: survivor.control, timeoutMilliseconds: 300)?[victim.name] == "dead" {
                    detected = Waiting.milliseconds(since: stoppedAt)
                    break
                }
            }
            if relaunched == nil, let now = AgentViews.byName(at: observer.control) {
                last = now.compactMapValues { Placed($0) }
                if movedAway(moving, from: victim, in: last) { relaunched = Waiting.milliseconds(since: stoppedAt) }
            }
            return detected != nil && relaunched != nil ? () : nil
        }
        try verifySingleCopies(moving, movedFrom: victim, observers: survivors)

        cluster.signal(SIGCONT, victim)
        _ = try Views.waitFor(victim.name, toBe: "alive", by: cluster.nodes, since: Waiting.clock.now, timeout: timeout)
        // Its daemon learns the agents run elsewhere now and stops its own copies as duplicates.
        let oldPids = moving.values.map(\.pid).filter { $0 > 0 }
        try Waiting.poll(every: 20, timeout: timeout, "after SIGCONT, \(victim.name) did not stop its duplicate agents (pids "
                         + oldPids.filter(Self.isAlive).map(String.init).joined(separator: ", ") + ")") {
            oldPids.contains(where: isAlive) ? nil : ()
        }
        try verifySingleCopies(moving, movedFrom: victim, observers: cluster.nodes)
        return (detected ?? 0, relaunched ?? 0)
    }

    /// SIGKILLs `victim` and times until every agent it hosted runs elsewhere.
    private static func measureCrash(_ cluster: Cluster, victim: LabNode) throws -> Double {
        let observer = cluster.nodes[0]
        let survivors = cluster.nodes.filter { $0.name != victim.name }
        let moving = try agents(on: victim, seenBy: observer)
        printError("  SIGKILL \(victim.name) (pid \(victim.pid)), hosting \(moving.keys.sorted().joined(separator: ","))")
        let killedAt = Waiting.clock.now
        cluster.signal(SIGKILL, victim)
        var last: [String: Placed] = [:]
        let elapsed = try Waiting.poll(every: 10, timeout: timeout, "after SIGKILL of \(victim.name), not relaunched: \(describe(last, moving.keys))") {
            () -> Double? in
            try cluster.checkStillRunning(except: [victim.name])
            guard let now = AgentViews.byName(at: observer.control) else { return nil }
            last = now.compactMapValues { Placed($0) }
            return movedAway(moving, from: victim, in: last) ? Waiting.milliseconds(since: killedAt) : nil
        }
        try verifySingleCopies(moving, movedFrom: victim, observers: survivors)
        return elapsed
    }

    /// A node other than n1 (the observer) and `excluding` that hosts at least one running agent.
    private static func victim(in cluster: Cluster, excluding: Set<String>) throws -> LabNode {
        guard let agents = AgentViews.byName(at: cluster.nodes[0].control) else {
            throw Failure("\(cluster.nodes[0].name) did not answer 'agents'")
        }
        let hosts = Set(agents.values.compactMap { Placed($0) }.filter { $0.state == "running" }.map(\.node))
        let candidates = cluster.nodes.dropFirst().filter { !excluding.contains($0.name) && hosts.contains($0.name) }
        guard let victim = candidates.randomElement() else { throw Failure("no node other than n1 hosts a running agent") }
        return victim
    }

    /// The running agents on `node` as `observer` sees them.
    private static func agents(on node: LabNode, seenBy observer: LabNode) throws -> [String: Placed] {
        guard let agents = AgentViews.byName(at: observer.control) else { throw Failure("\(observer.name) did not answer 'agents'") }
        let placed = agents.compactMapValues { Placed($0) }.filter { $0.value.node == node.name && $0.value.state == "running" }
        guard !placed.isEmpty else { throw Failure("\(observer.name) sees no running agent on \(node.name)") }
        return placed
    }

    /// Every agent of `moving` runs on another node, in a newer generation.
    private static func movedAway(_ moving: [String: Placed], from victim: LabNode, in view: [String: Placed]) -> Bool {
        moving.allSatisfy { name, before in
            guard let now = view[name] else { return false }
            return now.state == "running" && now.node != victim.name && now.generation > before.generation && now.pid > 0
        }
    }

    /// Every observer agrees where each moved agent runs (one record: same
    /// node, generation and pid, newer than before, not on the victim) and that pid is alive.
    private static func verifySingleCopies(_ moving: [String: Placed], movedFrom victim: LabNode, observers: [LabNode]) throws {
        var disagreement = ""
        try Waiting.poll(every: 20, timeout: timeout, "the nodes do not agree on one running copy per agent: \(disagreement)") {
            () -> Void? in
            let views = observers.map { observer in (observer.name, AgentViews.byName(at: observer.control)) }
            for (name, before) in moving.sorted(by: { $0.key < $1.key }) {
                let seen = views.map { observer, view in (observer, view.flatMap { Placed($0[name]) }) }
                let first = seen.first?.1
                let agreed = first.map { placed in
                    placed.state == "running" && placed.node != victim.name && placed.generation > before.generation
                        && isAlive(placed.pid) && seen.allSatisfy { $0.1 == placed }
                } ?? false
                guard agreed else {
                    disagreement = "\(name): " + seen.map { observer, placed in
                        "\(observer) sees " + (placed.map { "\($0.state) on \($0.node) gen \($0.generation) pid \($0.pid)" } ?? "nothing")
                    }.joined(separator: "; ")
                    return nil
                }
            }
            return ()
        }
    }

    private static func describe(_ view: [String: Placed], _ names: Dictionary<String, Placed>.Keys) -> String {
        names.sorted().map { name in
            view[name].map { "\(name) \($0.state) on \($0.node) gen \($0.generation)" } ?? "\(name) unknown"
        }.joined(separator: ", ")
    }

    /// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
    package static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }
}
