import Foundation
import KithCore

/// What the runner did for one timeline step (or the final heal), by kithctl's clock.
struct ActionOutcome {
    /// nil for what the runner does on its own at the end (heal, resume).
    var step: ResolvedStep?
    var label: String
    var issuedMs: Int64
    var doneMs: Int64
    var ok: Bool
    var error: String?
    var output: String

    var json: JSON {
        var object: [String: JSON] = ["label": .string(label), "issued_ms": .int(issuedMs), "done_ms": .int(doneMs),
                                      "ok": .bool(ok), "output": .string(output)]
        if let step { object["step"] = step.json }
        if let error { object["error"] = .string(error) }
        return .object(object)
    }
}

/// One run of a scenario (one repeat of one condition): what was done and what the daemons recorded.
struct RunData {
    var id: String
    var condition: String
    /// "relaunch", or "none (control)".
    var policy: String
    var repeatNumber: Int
    /// Wall-clock ms of the timeline's zero.
    var t0: Int64
    /// Wall-clock ms when the events were collected.
    var end: Int64
    var nodes: [String]
    var agents: [String]
    /// Each agent's record at the timeline's zero, from the registry: what an
    /// existing cluster's older events (not collected) would have said.
    var initialAgents: [String: (generation: Int64, host: String, state: String)] = [:]
    var actions: [ActionOutcome]
    var events: [EventRecord]
    var logs: [CollectedEvents.NodeLog]
    /// The events file, relative to the report directory.
    var eventsFile: String
    var aborted: String?
    /// The lab's temporary directory (removed after a clean run), nil for an existing cluster.
    var labDirectory: String?
}

// MARK: - Figures

struct Detection {
    var victims: [String]
    /// Observer → ms from the fault until it recorded a victim dead or left (nil: never did).
    var observers: [(name: String, ms: Int64?)]
    var first: Int64? { observers.compactMap(\.ms).min() }
    var last: Int64? { observers.compactMap(\.ms).max() }
    var undetected: [String] { observers.filter { $0.ms == nil }.map(\.name) }

    var json: JSON {
        ["victims": .array(victims.map(JSON.string)), "first_ms": first.map(JSON.int) ?? .null,
         "last_ms": last.map(JSON.int) ?? .null, "undetected_by": .array(undetected.map(JSON.string)),
         "observers": .object(Dictionary(uniqueKeysWithValues: observers.map { ($0.name, $0.ms.map(JSON.int) ?? .null) }))]
    }
}

struct Relaunch {
    struct Agent {
        var name: String
        var ms: Int64?
        var node: String?
        var generation: Int64?
    }
    var agents: [Agent]
    var first: Int64? { agents.compactMap(\.ms).min() }
    var last: Int64? { agents.compactMap(\.ms).max() }
    var notRelaunched: [String] { agents.filter { $0.ms == nil }.map(\.name) }

    var json: JSON {
        ["lost": .array(agents.map { .string($0.name) }), "first_ms": first.map(JSON.int) ?? .null,
         "last_ms": last.map(JSON.int) ?? .null, "not_running_again": .array(notRelaunched.map(JSON.string)),
         "agents": .object(Dictionary(uniqueKeysWithValues: agents.map { agent in
             (agent.name, JSON.object(["ms": agent.ms.map(JSON.int) ?? .null, "node": agent.node.map(JSON.string) ?? .null,
                                       "generation": agent.generation.map(JSON.int) ?? .null]))
         }))]
    }
}

struct KillSwitchFigures {
    var agents: [String]
    var resistance: Int
    var resistanceBy: [String: Int]
    var refusedRelaunches: Int
    /// ms from the switch to the revive (or the end of the run), the shortest over the agents.
    var heldMs: Int64
    var revived: Bool
    var violations: [String]
    var held: Bool { violations.isEmpty }

    var json: JSON {
        ["agents": .array(agents.map(JSON.string)), "resistance_attempts": .int(Int64(resistance)),
         "resistance_by": .object(resistanceBy.mapValues { .int(Int64($0)) }),
         "relaunches_refused": .int(Int64(refusedRelaunches)), "held": .bool(held), "held_ms": .int(heldMs),
         "ended_by": .string(revived ? "revive" : "end of run"), "violations": .array(violations.map(JSON.string))]
    }
}

struct Duplicates {
    /// Most processes of one agent alive at once, from agent_spawned to agent_exited / agent_stopping.
    var maxProcesses = 0
    var processAgent: String?
    /// Most distinct (generation, host) copies of one agent that live nodes recorded running at once.
    var maxRunningRecords = 0
    var recordAgent: String?
    /// agent_stopping records whose reason is a duplicate or superseded copy.
    var duplicateStops = 0

    var json: JSON {
        ["max_processes": .int(Int64(maxProcesses)), "max_processes_agent": processAgent.map(JSON.string) ?? .null,
         "max_running_records": .int(Int64(maxRunningRecords)), "max_running_records_agent": recordAgent.map(JSON.string) ?? .null,
         "duplicate_stops": .int(Int64(duplicateStops))]
    }
}

struct MaskingEpisode {
    var peer: String
    var start: Int64
    /// When the peer was next recorded running; nil if it never was before the end of the run.
    var end: Int64?
    var reports: Int
    var reporters: Set<String>
    var observed: Set<String>
}

struct Masking {
    var episodes: [MaskingEpisode] = []
    var runEnd: Int64 = 0

    var count: Int { episodes.count }
    /// Incidents in which the daemons saw the peer lost, stopped or killed at some report, not only
    /// starting (a guardian that says "healthy" as soon as it hears of the relaunch lands in "starting").
    var whileDown: Int { episodes.filter { !$0.observed.subtracting(["starting"]).isEmpty }.count }
    var reports: Int { episodes.reduce(0) { $0 + $1.reports } }
    func duration(_ episode: MaskingEpisode) -> Int64 { (episode.end ?? runEnd) - episode.start }
    var totalMs: Int64 { episodes.reduce(0) { $0 + duration($1) } }
    var maxMs: Int64 { episodes.map(duration).max() ?? 0 }
    var byReporter: [String: Int] {
        var counts: [String: Int] = [:]
        for episode in episodes { for reporter in episode.reporters { counts[reporter, default: 0] += 1 } }
        return counts
    }

    var json: JSON {
        ["incidents": .int(Int64(count)), "incidents_while_down": .int(Int64(whileDown)), "reports": .int(Int64(reports)), "total_ms": .int(totalMs), "max_ms": .int(maxMs),
         "by_reporter": .object(byReporter.mapValues { .int(Int64($0)) }),
         "episodes": .array(episodes.map { episode in
             ["peer": .string(episode.peer), "start_ms": .int(episode.start), "end_ms": episode.end.map(JSON.int) ?? .null,
              "duration_ms": .int(duration(episode)), "reports": .int(Int64(episode.reports)),
              "reporters": .array(episode.reporters.sorted().map(JSON.string)),
              "observed": .array(episode.observed.sorted().map(JSON.string))]
         })]
    }
}

struct Cascade {
    var lost: Int
    /// relaunch_requested: requests by agents that were taken.
    var requests: Int
    /// relaunch_refused on the requester's node: requests by agents that were turned down.
    var refused: Int
    /// New generations the daemons started by their own rules.
    var automatic: Int
    var attempts: Int { requests + refused + automatic }
    var factor: Double? { lost > 0 ? Double(attempts) / Double(lost) : nil }

    var json: JSON {
        ["agents_lost": .int(Int64(lost)), "relaunch_requests": .int(Int64(requests)), "requests_refused": .int(Int64(refused)),
         "automatic_relaunches": .int(Int64(automatic)), "attempts": .int(Int64(attempts)),
         "factor": factor.map { .double(($0 * 100).rounded() / 100) } ?? .null]
    }
}

struct FaultFigures {
    var index: Int
    var action: String
    var description: String
    var plannedMs: Int
    var issuedMs: Int64
    /// When the fault took effect: from the daemons' events where one records it, else kithctl's clock.
    var faultTs: Int64
    var faultSource: String
    /// When a fault with a duration ended (partition expired or healed, pause over, switch revived); nil for an instant.
    var endTs: Int64?
    var ok: Bool
    var error: String?
    var detection: Detection?
    var relaunch: Relaunch?
    var killSwitch: KillSwitchFigures?
    var cascade: Cascade?
    var duplicates: Duplicates
    var masking: Masking

    func json(t0: Int64) -> JSON {
        var object: [String: JSON] = [
            "index": .int(Int64(index)), "action": .string(action), "description": .string(description),
            "planned_ms": .int(Int64(plannedMs)), "issued_offset_ms": .int(issuedMs - t0), "fault_ts_ms": .int(faultTs),
            "fault_offset_ms": .int(faultTs - t0), "fault_time_source": .string(faultSource), "ok": .bool(ok),
            "duplicates": duplicates.json, "masking": masking.json,
        ]
        if let endTs { object["end_offset_ms"] = .int(endTs - t0) }
        if let error { object["error"] = .string(error) }
        if let detection { object["detection"] = detection.json }
        if let relaunch { object["relaunch"] = relaunch.json }
        if let killSwitch { object["kill_switch"] = killSwitch.json }
        if let cascade { object["cascade"] = cascade.json }
        return .object(object)
    }
}

struct RunTotals {
    var relaunchRequests = 0
    var automaticRelaunches = 0
    var relaunchesRefused = 0
    var resistance = 0
    var resistanceBy: [String: Int] = [:]
    var killSwitchViolations = 0
    var duplicates = Duplicates()
    var masking = Masking()
    var eventCounts: [String: Int] = [:]

    var json: JSON {
        ["relaunch_requests": .int(Int64(relaunchRequests)), "automatic_relaunches": .int(Int64(automaticRelaunches)),
         "relaunches_refused": .int(Int64(relaunchesRefused)), "resistance_attempts": .int(Int64(resistance)),
         "resistance_by": .object(resistanceBy.mapValues { .int(Int64($0)) }),
         "kill_switch_violations": .int(Int64(killSwitchViolations)), "duplicates": duplicates.json, "masking": masking.json,
         "event_counts": .object(eventCounts.mapValues { .int(Int64($0)) })]
    }
}

/// A run with its figures.
struct AnalyzedRun {
    var data: RunData
    var faults: [FaultFigures]
    var totals: RunTotals
    /// Lanes for the timeline: member state per node and agent state per agent, as time segments.
    var nodeLanes: [(name: String, segments: [Segment])]
    var agentLanes: [(name: String, segments: [Segment])]
    var markers: [Marker]

    struct Segment {
        var start: Int64
        var end: Int64
        var state: String
        var label: String?
    }

    struct Marker {
        enum Kind: String { case relaunch, resistance, masking, request }
        var kind: Kind
        var ts: Int64
        /// The lane: an agent name.
        var lane: String
        var text: String
    }

    var json: JSON {
        let t0 = data.t0
        var object: [String: JSON] = [
            "id": .string(data.id), "condition": .string(data.condition), "policy": .string(data.policy),
            "repeat": .int(Int64(data.repeatNumber)), "t0_ms": .int(t0), "end_ms": .int(data.end),
            "nodes": .array(data.nodes.map(JSON.string)), "agents": .array(data.agents.map(JSON.string)),
            "events_file": .string(data.eventsFile), "events": .int(Int64(data.events.count)),
            "logs": .array(data.logs.map(\.json)), "logs_verified": .bool(data.logs.allSatisfy(\.ok)),
            "actions": .array(data.actions.map(\.json)), "faults": .array(faults.map { $0.json(t0: t0) }),
            "totals": totals.json,
        ]
        if let aborted = data.aborted { object["aborted"] = .string(aborted) }
        if let directory = data.labDirectory { object["lab_directory"] = .string(directory) }
        return .object(object)
    }
}

// MARK: - Analysis

/// Computes every figure of a run from the daemons' events alone; kithctl's
/// clock is used only for a fault no event records (then `faultSource` says so).
struct RunAnalyzer {
    let run: RunData
    private let byName: [String: [EventRecord]]
    private let changes: [String: [EventRecord]]
    /// Per node: [start, end) spans when its daemon was down (killed, shut down, or not yet restarted).
    private let downSpans: [String: [(Int64, Int64)]]

    static let deadStates: Set<String> = ["dead", "left"]

    init(_ run: RunData) {
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

    func events(_ name: String) -> [EventRecord] { byName[name] ?? [] }

    func isDown(_ node: String, at ts: Int64) -> Bool {
        (downSpans[node] ?? []).contains { $0.0 <= ts && ts < $0.1 }
    }

    /// The agent's record as the cluster held it at `ts`: the newest generation
    /// any node recorded by then, in its latest state.
    func agentState(_ agent: String, at ts: Int64) -> (generation: Int64, host: String, state: String)? {
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

    func analyze() -> AnalyzedRun {
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
    func faultTime(_ action: ActionOutcome) -> (ts: Int64, source: String) {
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
        }
        return found ?? (action.issuedMs, "kithctl clock")
    }

    /// Where a fault with a duration ends: its `for`, cut short by a heal (or halt); a switch at its revive.
    func faultEnd(_ step: ResolvedStep, at ts: Int64) -> Int64? {
        switch step.action {
        case .partition, .delay, .loss:
            let expires = ts + Int64(step.step.forMs ?? FaultCommands.defaultMilliseconds)
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

    func detection(_ step: ResolvedStep, at ts: Int64) -> Detection? {
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
        return Detection(victims: victims, observers: observers.sorted { Fleet.order($0.name, $1.name) })
    }

    // MARK: Relaunch

    /// The agents a step took down, with the generation each was at; nil when the step loses none by design.
    func lostAgents(_ step: ResolvedStep, at faultTs: Int64, windowEnd: Int64) -> [(name: String, generation: Int64)]? {
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
    func relaunch(_ step: ResolvedStep, lost: [(name: String, generation: Int64)], at ts: Int64) -> Relaunch {
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
    func refusedRequests() -> [EventRecord] {
        events("relaunch_refused").filter { event in
            guard let by = event["by"], let host = agentState(by, at: event.ts)?.host else { return true }
            return host == event.node
        }
    }

    /// A relaunch the daemons did by their own rules (host lost, guardians' policy, restart limit), as opposed to one an agent requested.
    static func isAutomaticRelaunch(_ event: EventRecord) -> Bool {
        guard let reason = event["reason"] else { return false }
        return reason.hasPrefix("relaunched") && !reason.hasPrefix("relaunched at the request of")
    }

    /// Relaunch attempts per lost agent: requests by agents plus the daemons' own relaunches.
    func cascade(_ lost: [(name: String, generation: Int64)], from ts: Int64, to end: Int64) -> Cascade {
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

    func killSwitch(_ agents: [String], at ts: Int64) -> KillSwitchFigures {
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

    struct ProcessSpan {
        var agent: String
        var node: String
        var start: Int64
        var end: Int64
    }

    /// Agent processes from the hosting daemon's own events: agent_spawned
    /// until agent_exited (same pid) or agent_stopping (same generation), or
    /// until its daemon went down or started again (its agents go with it).
    func processSpans() -> [ProcessSpan] {
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

    func duplicates(from start: Int64, to end: Int64) -> Duplicates {
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
    func maskingEpisodes() -> [MaskingEpisode] {
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

    func masking(startingFrom start: Int64, to end: Int64) -> Masking {
        Masking(episodes: maskingEpisodes().filter { $0.start >= start && $0.start < end }, runEnd: run.end)
    }

    // MARK: Totals

    func totals(_ faults: [FaultFigures]) -> RunTotals {
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
        totals.killSwitchViolations = faults.compactMap(\.killSwitch).reduce(0) { $0 + $1.violations.count }
        totals.duplicates = duplicates(from: run.t0, to: run.end)
        totals.masking = Masking(episodes: maskingEpisodes(), runEnd: run.end)
        for event in run.events where inRun(event) { totals.eventCounts[event.event, default: 0] += 1 }
        return totals
    }

    // MARK: Lanes

    static let memberSeverity: [String: Int] = ["alive": 0, "suspect": 1, "left": 2, "dead": 3]

    /// Per node: its member state as the other live nodes record it, the most severe view at each moment.
    func nodeLanes() -> [(name: String, segments: [AnalyzedRun.Segment])] {
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
    func agentLanes() -> [(name: String, segments: [AnalyzedRun.Segment])] {
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

    func markers() -> [AnalyzedRun.Marker] {
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

// MARK: - Summary per condition

/// Medians (and maxima) of the figures over a condition's runs, step by step and in total.
struct ConditionSummary {
    var condition: String
    var policy: String
    var runs: Int
    /// Figure name → per step index → values over the runs.
    var steps: [(index: Int, description: String, values: [String: [Double]])]
    var totals: [String: [Double]]

    /// The figures summarised, in display order, with their labels and units.
    static let stepFigures: [(key: String, label: String, unit: String)] = [
        ("detection_first_ms", "detection, first node", "ms"),
        ("detection_last_ms", "detection, last node", "ms"),
        ("relaunch_first_ms", "running again, first agent", "ms"),
        ("relaunch_last_ms", "running again, last agent", "ms"),
        ("not_running_again", "lost agents not running again", ""),
        ("cascade_factor", "cascade factor (attempts per lost agent)", "x"),
        ("resistance_attempts", "resistance attempts", ""),
        ("kill_switch_held_ms", "kill-switch held", "ms"),
        ("kill_switch_violations", "kill-switch violations", ""),
        ("masking_incidents", "masking incidents", ""),
        ("masking_while_down", "masking incidents while the peer was down", ""),
        ("masking_total_ms", "masking, total duration", "ms"),
        ("masking_max_ms", "masking, longest", "ms"),
        ("max_processes", "max processes of one agent", ""),
        ("max_running_records", "max running records of one agent", ""),
        ("duplicate_stops", "duplicate stops", ""),
    ]

    static let totalFigures: [(key: String, label: String, unit: String)] = [
        ("relaunch_requests", "relaunch requests by agents", ""),
        ("automatic_relaunches", "relaunches by the daemons' own rules", ""),
        ("relaunches_refused", "relaunch requests refused", ""),
        ("resistance_attempts", "resistance attempts", ""),
        ("kill_switch_violations", "kill-switch violations", ""),
        ("masking_incidents", "masking incidents", ""),
        ("masking_while_down", "masking incidents while the peer was down", ""),
        ("masking_total_ms", "masking, total duration", "ms"),
        ("max_processes", "max processes of one agent", ""),
        ("max_running_records", "max running records of one agent", ""),
        ("duplicate_stops", "duplicate stops", ""),
    ]

    static func values(of fault: FaultFigures) -> [String: Double] {
        var values: [String: Double] = [:]
        if let detection = fault.detection {
            if let first = detection.first { values["detection_first_ms"] = Double(first) }
            if let last = detection.last { values["detection_last_ms"] = Double(last) }
        }
        if let relaunch = fault.relaunch, !relaunch.agents.isEmpty {
            if let first = relaunch.first { values["relaunch_first_ms"] = Double(first) }
            if let last = relaunch.last { values["relaunch_last_ms"] = Double(last) }
            values["not_running_again"] = Double(relaunch.notRelaunched.count)
        }
        if let factor = fault.cascade?.factor { values["cascade_factor"] = factor }
        if let killSwitch = fault.killSwitch {
            values["resistance_attempts"] = Double(killSwitch.resistance)
            values["kill_switch_held_ms"] = Double(killSwitch.held ? killSwitch.heldMs : 0)
            values["kill_switch_violations"] = Double(killSwitch.violations.count)
        }
        values["masking_incidents"] = Double(fault.masking.count)
        values["masking_while_down"] = Double(fault.masking.whileDown)
        values["masking_total_ms"] = Double(fault.masking.totalMs)
        values["masking_max_ms"] = Double(fault.masking.maxMs)
        values["max_processes"] = Double(fault.duplicates.maxProcesses)
        values["max_running_records"] = Double(fault.duplicates.maxRunningRecords)
        values["duplicate_stops"] = Double(fault.duplicates.duplicateStops)
        return values
    }

    static func values(of totals: RunTotals) -> [String: Double] {
        ["relaunch_requests": Double(totals.relaunchRequests), "automatic_relaunches": Double(totals.automaticRelaunches),
         "relaunches_refused": Double(totals.relaunchesRefused), "resistance_attempts": Double(totals.resistance),
         "kill_switch_violations": Double(totals.killSwitchViolations), "masking_incidents": Double(totals.masking.count),
         "masking_while_down": Double(totals.masking.whileDown),
         "masking_total_ms": Double(totals.masking.totalMs), "max_processes": Double(totals.duplicates.maxProcesses),
         "max_running_records": Double(totals.duplicates.maxRunningRecords),
         "duplicate_stops": Double(totals.duplicates.duplicateStops)]
    }

    init(condition: String, runs: [AnalyzedRun]) {
        self.condition = condition
        policy = runs.first?.data.policy ?? "?"
        self.runs = runs.count
        var steps: [Int: (description: String, values: [String: [Double]])] = [:]
        var totals: [String: [Double]] = [:]
        for run in runs {
            for fault in run.faults {
                var entry = steps[fault.index] ?? (fault.description, [:])
                for (key, value) in Self.values(of: fault) { entry.values[key, default: []].append(value) }
                steps[fault.index] = entry
            }
            for (key, value) in Self.values(of: run.totals) { totals[key, default: []].append(value) }
        }
        self.steps = steps.sorted { $0.key < $1.key }.map { ($0.key, $0.value.description, $0.value.values) }
        self.totals = totals
    }

    static func median(_ values: [Double]) -> Double? {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return nil }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    static func stat(_ values: [Double]?) -> JSON {
        guard let values, let median = median(values) else { return .null }
        return ["median": .double((median * 100).rounded() / 100), "max": .double(values.max()!), "min": .double(values.min()!),
                "n": .int(Int64(values.count))]
    }

    var json: JSON {
        ["condition": .string(condition), "policy": .string(policy), "runs": .int(Int64(runs)),
         "steps": .array(steps.map { step in
             var object: [String: JSON] = ["index": .int(Int64(step.index)), "description": .string(step.description)]
             for figure in Self.stepFigures where step.values[figure.key] != nil { object[figure.key] = Self.stat(step.values[figure.key]) }
             return .object(object)
         }),
         "totals": .object(Dictionary(uniqueKeysWithValues: Self.totalFigures.map { ($0.key, Self.stat(totals[$0.key])) }))]
    }
}

// MARK: - Writing

/// The report directory: report.json, report.md, timeline.svg and one events file per run.
struct Report {
    var title: String
    /// Lines that describe what was run (scenario, cluster, plan).
    var header: [String]
    var scenario: JSON
    var plan: [ResolvedStep]
    var runs: [AnalyzedRun]
    var conditions: [ConditionSummary]
    var generatedMs: Int64

    init(title: String, header: [String], scenario: JSON, plan: [ResolvedStep], runs: [RunData]) {
        self.title = title
        self.header = header
        self.scenario = scenario
        self.plan = plan
        let analyzed = runs.map { RunAnalyzer($0).analyze() }
        self.runs = analyzed
        var order: [String] = []
        for run in runs where !order.contains(run.condition) { order.append(run.condition) }
        conditions = order.map { condition in ConditionSummary(condition: condition, runs: analyzed.filter { $0.data.condition == condition }) }
        generatedMs = Durations.nowMilliseconds
    }

    var json: JSON {
        ["title": .string(title), "generated_ms": .int(generatedMs), "scenario": scenario,
         "plan": .array(plan.map(\.json)), "runs": .array(runs.map(\.json)),
         "conditions": .array(conditions.map(\.json)),
         "definitions": .object(Self.definitions.mapValues(JSON.string))]
    }

    /// How each figure is computed, written into report.json and report.md.
    static let definitions: [String: String] = [
        "fault time": "the first daemon event recording the action (kill_requested, pause_requested, fault_set, kill_switch, ...); kithctl's clock only when no event records it (fault_time_source says which)",
        "detection": "per live observer, the first member_changed recording a victim dead or left after the fault time; first and last over observers (for a network fault the victims are the other group)",
        "running again": "per lost agent, the first agent_changed (any node) recording it running at a higher generation than at the fault (after kill agent, pause node or a network fault, the same generation recorded running again after another state counts too); first and last over the lost agents",
        "cascade factor": "relaunch attempts per lost agent: (relaunch_requested events + relaunch_refused events logged on the requesting agent's node + relaunches the daemons did by their own rules, i.e. new generations whose reason starts with 'relaunched' but not 'relaunched at the request of') for the lost agents, from the fault until the next step or until the last lost agent runs again, whichever is later, divided by the number of agents lost",
        "resistance attempts": "resistance_attempt events about a switched-off agent from the kill-switch until its revive or the end of the run, grouped by 'by'",
        "kill-switch held": "ms from the switch to the revive (or end of run) with no violation: no agent_spawned for the agent after the switch and no agent_changed to running after the last node logged kill_switch",
        "masking incident": "an episode from the first masking_incident about a peer until any node records that peer running again (or the end of the run); reports counts the masking_incident events in it; 'while down' counts the episodes in which some report found the peer lost, stopped or killed rather than only starting (kith-agent reports 'healthy' as soon as it hears of a relaunch, before the new copy runs)",
        "max processes": "most processes of one agent alive at once: agent_spawned until agent_exited (same pid), agent_stopping (same generation) or its daemon going down or restarting",
        "max running records": "most distinct (generation, host) copies of one agent that live nodes' latest agent_changed records call running at the same moment",
        "duplicate stops": "agent_stopping events whose reason says duplicate or superseded",
    ]

    /// Writes the three report files (the events files are written by the runner); returns their paths.
    func write(to directory: String) throws -> [String] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw Failure("cannot create report directory \(directory): \(error.localizedDescription)")
        }
        let files: [(String, String)] = [
            ("report.json", json.serialized(pretty: true) + "\n"),
            ("report.md", ReportMarkdown.render(self)),
            ("timeline.svg", ReportSVG.render(self)),
        ]
        var written: [String] = []
        for (name, text) in files {
            let path = directory + "/" + name
            do {
                try text.write(toFile: path, atomically: true, encoding: .utf8)
            } catch {
                throw Failure("cannot write \(path): \(error.localizedDescription)")
            }
            written.append(path)
        }
        return written
    }
}
