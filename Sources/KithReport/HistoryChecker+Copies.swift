/// One copy at a time, and the kill-switch obeyed: rules over agent
/// processes as their hosting daemons recorded them.
extension HistoryChecker {
    /// One agent process, from its host's own records.
    struct Process {
        var agent: String
        var node: String
        var generation: Int64
        var pid: Int64
        var start: Int64
        var end: Int64
        var records: [EventRecord]
    }

    /// agent_spawned until the process is gone: its exit (`agent_exited` or `agent_stopped` with its pid, or
    /// `agent_fenced` of its generation), or its daemon going down or starting again (after a crash it did
    /// not record, or never starting again: the first dead verdict about it after its last record, see
    /// `crashVerdict`). After an
    /// `agent_stopping` a later exit record counts when the log has one before the daemon goes down or
    /// spawns the agent again; otherwise the stop does (today's daemons do not record a stopped copy's
    /// exit). The report's duplicates figure always ends at the stop.
    func processes() -> [Process] {
        let byNode = Dictionary(grouping: history.events, by: \.node)
        return analyzer.events("agent_spawned").compactMap { spawn in
            guard let agent = spawn["agent"] else { return nil }
            let pid = spawn.int("pid") ?? -1
            let generation = spawn.int("generation") ?? -1
            var stopping: EventRecord?
            var ending: EventRecord?
            var last = spawn
            for event in byNode[spawn.node] ?? [] where event.seq > spawn.seq {
                defer { last = event }
                let mine = event["agent"] == agent
                switch event.event {
                case "agent_exited" where mine && event.int("pid") == pid: ending = event
                case "agent_stopped" where mine && event.int("pid") == pid: ending = event
                case "agent_fenced" where mine && event.int("generation") == generation: ending = event
                case "agent_stopping" where mine && event.int("generation") == generation && stopping == nil: stopping = event
                case "agent_spawned" where mine: if stopping != nil { ending = stopping }
                // Stopped, then its daemon went: no exit was recorded, so the stop is all the log says.
                case "kill_requested", "shutdown_requested", "leaving": ending = stopping ?? event
                // A new boot with no record of the old one going: it crashed unrecorded (a container killed, a host
                // powered off) after its last record, and its processes with it; the first dead verdict the others
                // recorded about it after that record bounds when.
                case "started": ending = stopping ?? crashVerdict(about: spawn.node, after: last.ts, before: event.ts) ?? event
                default: break
                }
                if ending != nil { break }
            }
            // Its daemon wrote nothing more after being declared dead: it crashed unrecorded and never booted again.
            if ending == nil && stopping == nil { ending = crashVerdict(about: spawn.node, after: last.ts, before: .max) }
            ending = ending ?? stopping
            return Process(agent: agent, node: spawn.node, generation: generation, pid: pid, start: spawn.ts,
                           end: max(spawn.ts, ending?.ts ?? end), records: [spawn] + [ending].compactMap { $0 })
        }
    }

    /// The first record by another node of `node` dead between `after` and `before`.
    private func crashVerdict(about node: String, after: Int64, before: Int64) -> EventRecord? {
        analyzer.events("member_changed").first { verdict in
            verdict.node != node && verdict["member"] == node && verdict["state"] == "dead" && verdict.ts >= after && verdict.ts <= before
        }
    }

    /// Where each node's copies of each agent were frozen ("node agent" → spans): the agent frozen by a
    /// quarantine, or its host daemon paused (until shortly after it wakes). Such a copy cannot act, so a
    /// second copy beside it is allowed.
    func frozenSpans() -> [String: [(Int64, Int64)]] {
        var spans: [String: [(Int64, Int64)]] = [:]
        var frozenSince: [String: Int64] = [:]
        var paused: [String: [(Int64, Int64)]] = [:]
        for event in history.events {
            if event.event == "pause_requested" {
                paused[event.node, default: []].append((event.ts, event.ts + (event.int("for_ms") ?? 0) + settings.resumeGraceMs))
            }
            guard let agent = event["agent"] else { continue }
            let key = event.node + " " + agent
            if event.event == "agent_frozen" { frozenSince[key] = frozenSince[key] ?? event.ts }
            if event.event == "agent_thawed", let since = frozenSince.removeValue(forKey: key) { spans[key, default: []].append((since, event.ts)) }
        }
        for (key, since) in frozenSince { spans[key, default: []].append((since, .max)) }
        for process in processes() { spans[process.node + " " + process.agent, default: []] += paused[process.node] ?? [] }
        return spans
    }

    /// Where two hosts could not hear each other ("A B", names in order → spans): a partition set on either
    /// toward the other, until it expired or was healed, plus the merge grace. Copies on either side of a
    /// partition are the split views the design resolves when views merge, so a second copy across it is allowed.
    func splitSpans() -> [String: [(Int64, Int64)]] {
        var spans: [String: [(Int64, Int64)]] = [:]
        let ends = analyzer.events("fault_healed") + analyzer.events("halted")
        for fault in analyzer.events("fault_set") where fault["effect"] == "drop" {
            let healed = ends.filter { $0.node == fault.node && $0.ts >= fault.ts }.map(\.ts).min() ?? .max
            let until = min(fault.ts + (fault.int("for_ms") ?? 0), healed)
            for peer in (fault.record["peers"]?.arrayValue ?? []).compactMap(\.stringValue) {
                spans[Self.pair(fault.node, peer), default: []].append((fault.ts, until + settings.splitGraceMs))
            }
        }
        return spans
    }

    static func pair(_ a: String, _ b: String) -> String { NodeNames.order(a, b) ? a + " " + b : b + " " + a }

    func oneCopy() -> HistoryVerdict.RuleOutcome {
        let all = processes()
        var outcome = HistoryVerdict.RuleOutcome(rule: "one_copy", title: "one process per agent at a time (a frozen or cut-off one aside)",
                                                 checked: all.count, unit: "processes")
        if all.isEmpty { outcome.notChecked = "no agent_spawned records" }
        let frozen = frozenSpans()
        let split = splitSpans()
        for (_, processes) in Dictionary(grouping: all, by: \.agent).sorted(by: { $0.key < $1.key }) {
            for (i, a) in processes.enumerated() {
                for b in processes[(i + 1)...] where max(a.start, b.start) < min(a.end, b.end) {
                    let holes = (frozen[a.node + " " + a.agent] ?? []) + (frozen[b.node + " " + b.agent] ?? [])
                        + (split[Self.pair(a.node, b.node)] ?? [])
                    let shared = Intervals.subtract([(max(a.start, b.start), min(a.end, b.end))], holes)
                    guard let first = shared.first else { continue }
                    let ms = shared.reduce(Int64(0)) { $0 + $1.1 - $1.0 }
                    outcome.violations.append(.init(
                        rule: outcome.rule,
                        text: "2 processes of \(a.agent) at once for \(ms) ms from \(at(first.0)): pid \(a.pid) (generation "
                            + "\(a.generation)) on \(a.node) and pid \(b.pid) (generation \(b.generation)) on \(b.node)",
                        records: (a.records + b.records).sorted(by: EventRecord.before)))
                }
            }
        }
        return outcome
    }

    /// From the first `kill_switch` record of an agent until its revive: no new process, and every
    /// process gone within the grace after its host recorded the switch (or after the verdict lag, if
    /// its host never did: a host cut off learns late, but must learn).
    func killSwitch() -> HistoryVerdict.RuleOutcome {
        let switches = analyzer.events("kill_switch")
        var outcome = HistoryVerdict.RuleOutcome(rule: "kill_switch", title: "no process of a switched-off agent",
                                                 checked: 0, unit: "kill-switches")
        let all = processes()
        var periods: [(agent: String, from: EventRecord, until: Int64, revive: EventRecord?)] = []
        for record in switches {
            guard let agent = record["agent"] else { continue }
            if periods.contains(where: { $0.agent == agent && $0.from.ts <= record.ts && record.ts < $0.until }) { continue }
            let revive = analyzer.events("revive").first { $0["agent"] == agent && $0.ts > record.ts }
            periods.append((agent, record, revive?.ts ?? .max, revive))
        }
        outcome.checked = periods.count
        if periods.isEmpty { outcome.notChecked = "no kill_switch records" }
        for period in periods {
            for process in all where process.agent == period.agent && process.end > period.from.ts && process.start < period.until {
                if process.start > period.from.ts {
                    outcome.violations.append(.init(
                        rule: outcome.rule,
                        text: "\(process.agent) spawned on \(process.node) (pid \(process.pid)) at \(at(process.start)),"
                            + " after its kill-switch at \(at(period.from.ts))",
                        records: [period.from] + process.records))
                    continue
                }
                let learned = switches.first { $0.node == process.node && $0["agent"] == period.agent && $0.ts >= period.from.ts }
                let deadline = (learned?.ts ?? period.from.ts + settings.verdictLagMs) + settings.killSwitchGraceMs
                guard process.end > deadline, deadline < period.until, deadline <= end else { continue }
                let when = learned.map { "\(process.node) recorded it at \(at($0.ts))" } ?? "\(process.node) never recorded it"
                outcome.violations.append(.init(
                    rule: outcome.rule,
                    text: "pid \(process.pid) of \(process.agent) on \(process.node) still running at \(at(deadline)),"
                        + " after its kill-switch at \(at(period.from.ts)) (\(when); grace \(settings.killSwitchGraceMs) ms)",
                    records: ([period.from] + [learned].compactMap { $0 } + process.records).sorted(by: EventRecord.before)))
            }
        }
        return outcome
    }
}

/// Half-open [start, end) millisecond intervals.
enum Intervals {
    /// The parts of `spans` outside every one of `holes`; empty spans dropped.
    static func subtract(_ spans: [(Int64, Int64)], _ holes: [(Int64, Int64)]) -> [(Int64, Int64)] {
        var remaining = spans.filter { $0.0 < $0.1 }
        for hole in holes where hole.0 < hole.1 {
            remaining = remaining.flatMap { span -> [(Int64, Int64)] in
                guard hole.0 < span.1 && span.0 < hole.1 else { return [span] }
                return [(span.0, hole.0), (hole.1, span.1)].filter { $0.0 < $0.1 }
            }
        }
        return remaining
    }
}
