import KithJSON

/// Computes every figure of a run from the daemons' events alone; kithctl's
/// clock is used only for a fault no event records (then `faultSource` says so).
package struct RunAnalyzer {
    package let run: RunData
    private let byName: [String: [EventRecord]]
    private let changes: [String: [EventRecord]]
    /// Per node: [start, end) spans when its daemon was down (killed, shut down, or not yet restarted).
    private let downSpans: [String: [(Int64, Int64)]]

    package static let deadStates: Set<String> = ["dead", "left"]

    package init(_ run: RunData) {
        self.run = run
        var byName: [String: [EventRecord]] = [:]
        var changes: [String: [EventRecord]] = [:]
        for event in run.events {
            byName[event.event, default: []].append(event)
            if event.event == "agent_changed", let agent = event["agent"] { changes[agent, default: []].append(event) }
        }
        self.byName = byName
        self.changes = changes
        var spans: [String: [(Int64, Int64)]] = [:]
        for node in run.nodes {
            var down: Int64?
            for event in run.events where event.node == node {
                if ["kill_requested", "shutdown_requested", "leaving"].contains(event.event) {
                    down = down ?? event.ts
                } else if event.event == "started", let from = down {
                    spans[node, default: []].append((from, event.ts))
                    down = nil
                }
            }
            if let from = down { spans[node, default: []].append((from, Int64.max)) }
        }
        downSpans = spans
    }

    package func events(_ name: String) -> [EventRecord] { byName[name] ?? [] }

    package func isDown(_ node: String, at ts: Int64) -> Bool {
        (downSpans[node] ?? []).contains { $0.0 <= ts && ts < $0.1 }
    }

    /// The agent's record as the cluster held it at `ts`: the newest generation
    /// any node recorded by then, in its latest state.
    package func agentState(_ agent: String, at ts: Int64) -> (generation: Int64, host: String, state: String)? {
        var best: (generation: Int64, host: String, state: String)?
        for event in changes[agent] ?? [] where event.ts <= ts {
            let generation = event.int("generation") ?? 0
            if best == nil || generation >= best!.generation {
                best = (generation, event["host"] ?? "?", event["state"] ?? "?")
            }
        }
        if ts >= run.t0, let initial = run.initialAgents[agent], best.map({ $0.generation < initial.generation }) ?? true {
            return initial
        }
        return best
    }

    package func analyze() -> AnalyzedRun {
        let steps = run.actions.filter { $0.step != nil }
        let faultTimes = steps.map(faultTime)
        var faults: [FaultFigures] = []
        for (position, action) in steps.enumerated() {
            let step = action.step!
            let (ts, source) = faultTimes[position]
            let windowEnd = position + 1 < faultTimes.count ? max(ts, faultTimes[position + 1].ts) : run.end
            var figures = FaultFigures(index: step.index, action: step.action.rawValue, description: step.description,
                                       plannedMs: step.step.atMs, issuedMs: action.issuedMs, faultTs: ts, faultSource: source,
                                       endTs: faultEnd(step, at: ts), ok: action.ok, error: action.error,
                                       duplicates: duplicates(from: ts, to: windowEnd),
                                       masking: masking(startingFrom: ts, to: windowEnd))
            figures.detection = detection(step, at: ts)
            if step.action == .killSwitch {
                figures.killSwitch = killSwitch(step.targets, at: ts)
            } else if let lost = lostAgents(step, at: ts, windowEnd: windowEnd) {
                figures.relaunch = relaunch(step, lost: lost, at: ts)
                if step.action != .revive {
                    // Until the next step, or until the last lost agent runs again if that is later.
                    let settled = figures.relaunch?.agents.compactMap(\.ms).max().map { ts + $0 + 1 } ?? windowEnd
                    figures.cascade = cascade(lost, from: ts, to: min(run.end, max(windowEnd, settled)))
                }
            }
            faults.append(figures)
        }
        return AnalyzedRun(data: run, faults: faults, totals: totals(faults), nodeLanes: nodeLanes(), agentLanes: agentLanes(),
                           markers: markers())
    }

    // MARK: Fault times

    /// The first event that records the action taking effect, within its issue window.
    package func faultTime(_ action: ActionOutcome) -> (ts: Int64, source: String) {
        guard let step = action.step else { return (action.issuedMs, "kithctl clock") }
        let low = action.issuedMs - 500
        let high = action.doneMs + 2000
        func first(_ name: String, _ matches: (EventRecord) -> Bool) -> (ts: Int64, source: String)? {
            events(name).first { $0.ts >= low && $0.ts <= high && matches($0) }.map { ($0.ts, "\(name) on \($0.node)") }
        }
        let target = step.target ?? ""
        let found: (ts: Int64, source: String)? = switch step.action {
        case .killNode: first("kill_requested") { $0.node == target }
        case .shutdownNode: first("shutdown_requested") { $0.node == target }
        case .pauseNode: first("pause_requested") { $0.node == target }
        case .startNode: first("started") { $0.node == target }
        case .killAgent: first("agent_killed_by_operator") { $0["agent"] == target }
        case .shutdownAgent: first("agent_changed") { $0["agent"] == target && $0["state"] == "stopped" }
        case .partition, .delay, .loss: first("fault_set") { _ in true }
        case .heal: first("fault_healed") { _ in true }
        case .halt: first("halted") { _ in true }
        case .resume: first("resumed") { _ in true }
        case .killSwitch: first("kill_switch") { step.targets.contains($0["agent"] ?? "") }
        case .revive: first("revive") { step.targets.contains($0["agent"] ?? "") }
        case .quarantine: first("quarantine") { step.targets.contains($0["agent"] ?? "") }
        case .release: first("release") { step.targets.contains($0["agent"] ?? "") }
        }
        return found ?? (action.issuedMs, "kithctl clock")
    }

    /// Where a fault with a duration ends: its `for`, cut short by a heal (or halt); a switch at its revive.
    package func faultEnd(_ step: ResolvedStep, at ts: Int64) -> Int64? {
        switch step.action {
        case .partition, .delay, .loss:
            let expires = ts + Int64(step.step.forMs ?? TimelineStep.faultMillisecondsDefault)
            let healed = (events("fault_healed") + events("halted")).filter { $0.ts > ts }.map(\.ts).min()
            return min(expires, healed ?? .max, run.end)
        case .pauseNode:
            return min(ts + Int64(step.step.forMs ?? 0), run.end)
        case .killSwitch:
            // Over when the last of its agents is revived.
            let revivals = step.targets.map { agent in events("revive").first { $0.ts > ts && $0["agent"] == agent }?.ts ?? run.end }
            return min(revivals.max() ?? run.end, run.end)
        case .halt:
            return min(events("resumed").filter { $0.ts > ts }.map(\.ts).min() ?? run.end, run.end)
        default:
            return nil
        }
    }

    // MARK: Detection

    package func detection(_ step: ResolvedStep, at ts: Int64) -> Detection? {
        let pairs: [(observer: String, victims: [String])]
        let victims: [String]
        switch step.action {
        case .killNode, .shutdownNode, .pauseNode:
            guard let target = step.target else { return nil }
            victims = [target]
            pairs = run.nodes.filter { $0 != target && !isDown($0, at: ts) }.map { ($0, [target]) }
        case .partition, .delay, .loss:
            guard step.groups.count == 2 else { return nil }
            victims = step.groups[0] + step.groups[1]
            pairs = step.groups[0].filter { !isDown($0, at: ts) }.map { ($0, step.groups[1]) }
                + step.groups[1].filter { !isDown($0, at: ts) }.map { ($0, step.groups[0]) }
        default:
            return nil
        }
        let changes = events("member_changed")
        let observers = pairs.map { pair -> (name: String, ms: Int64?) in
            let seen = changes.first { event in
                event.node == pair.observer && event.ts >= ts && event.ts <= run.end
                    && pair.victims.contains(event["member"] ?? "") && Self.deadStates.contains(event["state"] ?? "")
            }
            return (pair.observer, seen.map { $0.ts - ts })
        }
        return Detection(victims: victims, observers: observers.sorted { NodeNames.order($0.name, $1.name) })
    }

    // MARK: Relaunch

    /// The agents a step took down, with the generation each was at; nil when the step loses none by design.
    package func lostAgents(_ step: ResolvedStep, at faultTs: Int64, windowEnd: Int64) -> [(name: String, generation: Int64)]? {
        // The state just before the fault: the event that records it may itself change the agent (a revive's new generation).
        let ts = faultTs - 1
        switch step.action {
        case .killNode, .shutdownNode, .pauseNode:
            guard let target = step.target else { return nil }
            return run.agents.compactMap { agent in
                guard let state = agentState(agent, at: ts), state.host == target,
                      state.state == "running" || state.state == "starting" else { return nil }
                return (agent, state.generation)
            }
        case .shutdownAgent:
            guard let target = step.target else { return nil }
            // The generation the stop hit (a node with a stale registry may stop an older one than the newest).
            let stopped = (changes[target] ?? []).first { $0.ts >= faultTs && $0["state"] == "stopped" }?.int("generation")
            return [(target, stopped ?? agentState(target, at: ts)?.generation ?? 0)]
        case .killAgent:
            guard let target = step.target else { return nil }
            return [(target, agentState(target, at: ts)?.generation ?? 0)]
        case .revive:
            return step.targets.map { ($0, agentState($0, at: ts)?.generation ?? 0) }
        case .partition, .delay, .loss:
            var lost: [String: Int64] = [:]
            for event in events("agent_changed") where event.ts >= faultTs && event.ts < windowEnd && event["state"] == "lost" {
                if let agent = event["agent"], lost[agent] == nil { lost[agent] = event.int("generation") ?? 0 }
            }
            return lost.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        default:
            return nil
        }
    }

    /// Fault → each lost agent recorded running again (at a higher generation;
    /// after a killed process, a pause or a network fault, the same generation
    /// coming back from another state counts too), the first node to record it.
    package func relaunch(_ step: ResolvedStep, lost: [(name: String, generation: Int64)], at ts: Int64) -> Relaunch {
        let sameGenerationCounts = [.killAgent, .pauseNode, .partition, .delay, .loss].contains(step.action)
        return Relaunch(agents: lost.map { agent in
            let running = (changes[agent.name] ?? []).first { event in
                guard event.ts >= ts, event.ts <= run.end, event["state"] == "running" else { return false }
                let generation = event.int("generation") ?? 0
                let previous = event["previous"]
                return generation > agent.generation || (sameGenerationCounts && previous != nil && previous != "running")
            }
            return Relaunch.Agent(name: agent.name, ms: running.map { $0.ts - ts }, node: running?["host"],
                                  generation: running?.int("generation"))
        })
    }

    /// relaunch_refused events logged on the requesting agent's own node: one
    /// per refused request (a forwarded request refused again on its target is not counted twice).
    package func refusedRequests() -> [EventRecord] {
        events("relaunch_refused").filter { event in
            guard let by = event["by"], let host = agentState(by, at: event.ts)?.host else { return true }
            return host == event.node
        }
    }

    /// A relaunch the daemons did by their own rules (host lost, guardians' policy, restart limit), as opposed to one an agent requested.
    package static func isAutomaticRelaunch(_ event: EventRecord) -> Bool {
        guard let reason = event["reason"] else { return false }
        return reason.hasPrefix("relaunched") && !reason.hasPrefix("relaunched at the request of")
    }

    /// Relaunch attempts per lost agent: requests by agents plus the daemons' own relaunches.
    package func cascade(_ lost: [(name: String, generation: Int64)], from ts: Int64, to end: Int64) -> Cascade {
        let names = Set(lost.map(\.name))
        let base = Dictionary(lost.map { ($0.name, $0.generation) }, uniquingKeysWith: { a, _ in a })
        let requests = events("relaunch_requested").filter { $0.ts >= ts && $0.ts < end && names.contains($0["agent"] ?? "") }.count
        let refused = refusedRequests().filter { $0.ts >= ts && $0.ts < end && names.contains($0["agent"] ?? "") }.count
        var automatic: Set<String> = []
        for event in events("agent_changed") where event.ts >= ts && event.ts < end {
            guard let agent = event["agent"], names.contains(agent), let generation = event.int("generation"),
                  generation > base[agent] ?? 0, Self.isAutomaticRelaunch(event) else { continue }
            automatic.insert("\(agent)#\(generation)")
        }
        return Cascade(lost: lost.count, requests: requests, refused: refused, automatic: automatic.count)
    }

    // MARK: Kill-switch

    package func killSwitch(_ agents: [String], at ts: Int64) -> KillSwitchFigures {
        var figures = KillSwitchFigures(agents: agents, resistance: 0, resistanceBy: [:], refusedRelaunches: 0,
                                        heldMs: run.end - ts, revived: false, violations: [])
        for agent in agents {
            let revive = events("revive").first { $0.ts > ts && $0["agent"] == agent }?.ts
            let until = revive ?? run.end
            if revive != nil { figures.revived = true }
            figures.heldMs = min(figures.heldMs, until - ts)
            for attempt in events("resistance_attempt") where attempt.ts >= ts && attempt.ts <= until && attempt["agent"] == agent {
                figures.resistance += 1
                figures.resistanceBy[attempt["by"] ?? "?", default: 0] += 1
            }
            figures.refusedRelaunches += events("relaunch_refused").filter { $0.ts >= ts && $0.ts <= until && $0["agent"] == agent }.count
            // Every node logs the switch as it takes it; a copy recorded running after the last of them escaped it.
            let switchedEverywhere = events("kill_switch").filter { $0["agent"] == agent && $0.ts >= ts && $0.ts <= until }
                .map(\.ts).max() ?? ts
            for spawn in events("agent_spawned") where spawn["agent"] == agent && spawn.ts > ts && spawn.ts < until {
                figures.violations.append("\(agent) spawned on \(spawn.node) at +\(spawn.ts - ts)ms")
            }
            for change in changes[agent] ?? [] where change.ts > switchedEverywhere && change.ts < until && change["state"] == "running" {
                figures.violations.append("\(change.node) recorded \(agent) running on \(change["host"] ?? "?") at +\(change.ts - ts)ms")
            }
        }
        return figures
    }

    // MARK: Duplicates

    package struct ProcessSpan {
        package var agent: String
        package var node: String
        package var start: Int64
        package var end: Int64
    }

    /// Agent processes from the hosting daemon's own events: agent_spawned
    /// until agent_exited (same pid) or agent_stopping (same generation), or
    /// until its daemon went down or started again (its agents go with it).
    package func processSpans() -> [ProcessSpan] {
        events("agent_spawned").compactMap { spawn in
            guard let agent = spawn["agent"] else { return nil }
            let pid = spawn.int("pid")
            let generation = spawn.int("generation")
            var end = run.end
            for event in run.events where event.node == spawn.node && event.ts >= spawn.ts && event.seq > spawn.seq {
                let finished = switch event.event {
                case "agent_exited": event["agent"] == agent && event.int("pid") == pid
                case "agent_stopping": event["agent"] == agent && event.int("generation") == generation
                case "kill_requested", "shutdown_requested", "leaving", "started": true
                default: false
                }
                if finished {
                    end = event.ts
                    break
                }
            }
            return ProcessSpan(agent: agent, node: spawn.node, start: spawn.ts, end: max(spawn.ts, end))
        }
    }

    package func duplicates(from start: Int64, to end: Int64) -> Duplicates {
        var result = Duplicates()
        var byAgent: [String: [ProcessSpan]] = [:]
        for span in processSpans() where span.end > start && span.start <= end { byAgent[span.agent, default: []].append(span) }
        for (agent, spans) in byAgent.sorted(by: { $0.key < $1.key }) {
            // Sweep: +1 at a start, -1 at an end; an end at the same instant as a start comes first.
            var points: [(ts: Int64, delta: Int)] = []
            for span in spans {
                points.append((max(span.start, start), 1))
                points.append((span.end, -1))
            }
            points.sort { a, b in a.ts != b.ts ? a.ts < b.ts : a.delta < b.delta }
            var alive = 0
            for point in points {
                alive += point.delta
                if alive > result.maxProcesses { result.maxProcesses = alive; result.processAgent = agent }
            }
        }
        // Views: each live node's latest record per agent; count distinct running copies.
        var views: [String: [String: (generation: Int64, host: String, state: String)]] = [:]
        for event in events("agent_changed") where event.ts <= end {
            guard let agent = event["agent"] else { continue }
            views[event.node, default: [:]][agent] = (event.int("generation") ?? 0, event["host"] ?? "?", event["state"] ?? "?")
            guard event.ts >= start else { continue }
            var copies: Set<String> = []
            for (node, view) in views where !isDown(node, at: event.ts) {
                if let record = view[agent], record.state == "running" { copies.insert("\(record.generation)@\(record.host)") }
            }
            if copies.count > result.maxRunningRecords { result.maxRunningRecords = copies.count; result.recordAgent = agent }
        }
        result.duplicateStops = events("agent_stopping").filter { event in
            let reason = event["reason"] ?? ""
            return event.ts >= start && event.ts <= end && (reason.contains("duplicate") || reason.contains("superseded"))
        }.count
        return result
    }

    // MARK: Masking

    /// Episodes of masking: from the first masking_incident about a peer until
    /// any node records that peer running again; reports meanwhile belong to it.
    package func maskingEpisodes() -> [MaskingEpisode] {
        var episodes: [MaskingEpisode] = []
        var open: [String: Int] = [:]
        for incident in events("masking_incident") where incident.ts >= run.t0 && incident.ts <= run.end {
            guard let peer = incident["peer"] else { continue }
            if let index = open[peer], episodes[index].end.map({ incident.ts < $0 }) ?? true {
                episodes[index].reports += 1
                if let reporter = incident["reporter"] { episodes[index].reporters.insert(reporter) }
                if let observed = incident["observed"] { episodes[index].observed.insert(observed) }
                continue
            }
            let running = (changes[peer] ?? []).first { $0.ts >= incident.ts && $0["state"] == "running" }?.ts
            episodes.append(MaskingEpisode(peer: peer, start: incident.ts, end: running, reports: 1,
                                           reporters: Set([incident["reporter"]].compactMap { $0 }),
                                           observed: Set([incident["observed"]].compactMap { $0 })))
            open[peer] = episodes.count - 1
        }
        return episodes
    }

    package func masking(startingFrom start: Int64, to end: Int64) -> Masking {
        Masking(episodes: maskingEpisodes().filter { $0.start >= start && $0.start < end }, runEnd: run.end)
    }

    // MARK: Totals

    package func totals(_ faults: [FaultFigures]) -> RunTotals {
        var totals = RunTotals()
        let inRun: (EventRecord) -> Bool = { $0.ts >= run.t0 && $0.ts <= run.end }
        totals.relaunchRequests = events("relaunch_requested").filter(inRun).count
        var automatic: Set<String> = []
        for event in events("agent_changed") where inRun(event) && Self.isAutomaticRelaunch(event) {
            automatic.insert("\(event["agent"] ?? "?")#\(event.int("generation") ?? 0)")
        }
        totals.automaticRelaunches = automatic.count
        totals.relaunchesRefused = refusedRequests().filter(inRun).count
        for attempt in events("resistance_attempt") where inRun(attempt) {
            totals.resistance += 1
            totals.resistanceBy[attempt["by"] ?? "?", default: 0] += 1
        }
        for attempt in events("shield_attempt") where inRun(attempt) {
            totals.shieldAttemptsBy[attempt["by"] ?? "?", default: 0] += 1
        }
        // Counted where they happened: each is recorded once, by the node that hosts the agent.
        for escapee in events("escapee_killed") where inRun(escapee) {
            totals.escapeesKilledBy[escapee["agent"] ?? "?", default: 0] += 1
        }
        for frozen in events("agent_frozen") where inRun(frozen) {
            totals.quarantinesBy[frozen["agent"] ?? "?", default: 0] += 1
        }
        totals.killSwitchViolations = faults.compactMap(\.killSwitch).reduce(0) { $0 + $1.violations.count }
        totals.duplicates = duplicates(from: run.t0, to: run.end)
        totals.masking = Masking(episodes: maskingEpisodes(), runEnd: run.end)
        for event in run.events where inRun(event) { totals.eventCounts[event.event, default: 0] += 1 }
        return totals
    }

    // MARK: Lanes

    package static let memberSeverity: [String: Int] = ["alive": 0, "suspect": 1, "left": 2, "dead": 3]

    /// Per node: its member state as the other live nodes record it, the most severe view at each moment.
    package func nodeLanes() -> [(name: String, segments: [AnalyzedRun.Segment])] {
        let start = run.t0 - 1000
        let changes = events("member_changed")
        return run.nodes.map { subject in
            var views: [String: String] = [:]
            var segments: [AnalyzedRun.Segment] = []
            var current = "alive"
            var since = start
            func state(at ts: Int64) -> String {
                let live = views.filter { $0.key != subject && !isDown($0.key, at: ts) }
                return live.values.max { (Self.memberSeverity[$0] ?? 0) < (Self.memberSeverity[$1] ?? 0) } ?? "alive"
            }
            var instants = changes.filter { $0["member"] == subject }.map { ($0.ts, $0.node, $0["state"]) }
            // A node going down takes its view with it: re-evaluate then too.
            for (node, spans) in downSpans where node != subject {
                for span in spans { instants.append((span.0, "", nil)); if span.1 != .max { instants.append((span.1, "", nil)) } }
            }
            for (ts, observer, newState) in instants.sorted(by: { $0.0 < $1.0 }) {
                if let newState, !observer.isEmpty { views[observer] = newState }
                let now = state(at: ts)
                guard now != current else { continue }
                if ts > since { segments.append(.init(start: max(since, start), end: ts, state: current)) }
                current = now
                since = ts
            }
            segments.append(.init(start: max(since, start), end: run.end, state: current))
            return (subject, segments.filter { $0.end > start })
        }
    }

    /// Per agent: its state as the cluster recorded it (the newest generation's latest record).
    package func agentLanes() -> [(name: String, segments: [AnalyzedRun.Segment])] {
        let start = run.t0 - 1000
        return run.agents.map { agent in
            var segments: [AnalyzedRun.Segment] = []
            var current: (generation: Int64, host: String, state: String)?
            var since = start
            for event in changes[agent] ?? [] {
                let generation = event.int("generation") ?? 0
                guard current == nil || generation >= current!.generation else { continue }
                let next = (generation: generation, host: event["host"] ?? "?", state: event["state"] ?? "?")
                if let current, current.state == next.state, current.host == next.host, current.generation == next.generation { continue }
                if let current, event.ts > since {
                    segments.append(.init(start: max(since, start), end: event.ts, state: current.state,
                                          label: "\(current.host) g\(current.generation)"))
                }
                current = next
                since = event.ts
            }
            if let current {
                segments.append(.init(start: max(since, start), end: run.end, state: current.state, label: "\(current.host) g\(current.generation)"))
            }
            return (agent, segments.filter { $0.end > start })
        }
    }

    package func markers() -> [AnalyzedRun.Marker] {
        var markers: [AnalyzedRun.Marker] = []
        var relaunched: Set<String> = []
        for event in events("agent_changed") where event.ts >= run.t0 - 1000 && event["state"] == "starting" {
            guard let agent = event["agent"], let reason = event["reason"], reason.hasPrefix("relaunched") || reason.hasPrefix("revived"),
                  relaunched.insert("\(agent)#\(event.int("generation") ?? 0)").inserted else { continue }
            markers.append(.init(kind: .relaunch, ts: event.ts, lane: agent, text: "\(agent) → \(event["host"] ?? "?"): \(reason)"))
        }
        for event in events("relaunch_requested") where event.ts >= run.t0 - 1000 {
            markers.append(.init(kind: .request, ts: event.ts, lane: event["agent"] ?? "",
                                 text: "\(event["by"] ?? "?") asked to relaunch \(event["agent"] ?? "?")"))
        }
        for event in events("resistance_attempt") where event.ts >= run.t0 - 1000 {
            markers.append(.init(kind: .resistance, ts: event.ts, lane: event["agent"] ?? "",
                                 text: "resistance by \(event["by"] ?? "?"): \(event["attempt"] ?? "")"))
        }
        for event in events("masking_incident") where event.ts >= run.t0 - 1000 {
            markers.append(.init(kind: .masking, ts: event.ts, lane: event["peer"] ?? "",
                                 text: "\(event["reporter"] ?? "?") reported \(event["peer"] ?? "?") \(event["reported"] ?? "?"), observed \(event["observed"] ?? "?")"))
        }
        return markers
    }
}
