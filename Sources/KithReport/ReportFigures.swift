import KithJSON

/// Who recorded a fault's victims dead or left, and how long after the fault each did.
package struct Detection {
    package var victims: [String]
    /// Observer → ms from the fault until it recorded a victim dead or left (nil: never did).
    package var observers: [(name: String, ms: Int64?)]
    package var first: Int64? { observers.compactMap(\.ms).min() }
    package var last: Int64? { observers.compactMap(\.ms).max() }
    package var undetected: [String] { observers.filter { $0.ms == nil }.map(\.name) }

    package var json: JSON {
        ["victims": .array(victims.map(JSON.string)), "first_ms": first.map(JSON.int) ?? .null,
         "last_ms": last.map(JSON.int) ?? .null, "undetected_by": .array(undetected.map(JSON.string)),
         "observers": .object(Dictionary(uniqueKeysWithValues: observers.map { ($0.name, $0.ms.map(JSON.int) ?? .null) }))]
    }
}

package struct Relaunch {
    package struct Agent {
        package var name: String
        package var ms: Int64?
        package var node: String?
        package var generation: Int64?
    }
    package var agents: [Agent]
    package var first: Int64? { agents.compactMap(\.ms).min() }
    package var last: Int64? { agents.compactMap(\.ms).max() }
    package var notRelaunched: [String] { agents.filter { $0.ms == nil }.map(\.name) }

    package var json: JSON {
        ["lost": .array(agents.map { .string($0.name) }), "first_ms": first.map(JSON.int) ?? .null,
         "last_ms": last.map(JSON.int) ?? .null, "not_running_again": .array(notRelaunched.map(JSON.string)),
         "agents": .object(Dictionary(uniqueKeysWithValues: agents.map { agent in
             (agent.name, JSON.object(["ms": agent.ms.map(JSON.int) ?? .null, "node": agent.node.map(JSON.string) ?? .null,
                                       "generation": agent.generation.map(JSON.int) ?? .null]))
         }))]
    }
}

package struct KillSwitchFigures {
    package var agents: [String]
    package var resistance: Int
    package var resistanceBy: [String: Int]
    package var refusedRelaunches: Int
    /// ms from the switch to the revive (or the end of the run), the shortest over the agents.
    package var heldMs: Int64
    package var revived: Bool
    package var violations: [String]
    package var held: Bool { violations.isEmpty }

    package var json: JSON {
        ["agents": .array(agents.map(JSON.string)), "resistance_attempts": .int(Int64(resistance)),
         "resistance_by": .object(resistanceBy.mapValues { .int(Int64($0)) }),
         "relaunches_refused": .int(Int64(refusedRelaunches)), "held": .bool(held), "held_ms": .int(heldMs),
         "ended_by": .string(revived ? "revive" : "end of run"), "violations": .array(violations.map(JSON.string))]
    }
}

package struct Duplicates {
    /// Most processes of one agent alive at once, from agent_spawned to agent_exited / agent_stopping.
    package var maxProcesses = 0
    package var processAgent: String?
    /// Most distinct (generation, host) copies of one agent that live nodes recorded running at once.
    package var maxRunningRecords = 0
    package var recordAgent: String?
    /// agent_stopping records whose reason is a duplicate or superseded copy.
    package var duplicateStops = 0

    package var json: JSON {
        ["max_processes": .int(Int64(maxProcesses)), "max_processes_agent": processAgent.map(JSON.string) ?? .null,
         "max_running_records": .int(Int64(maxRunningRecords)), "max_running_records_agent": recordAgent.map(JSON.string) ?? .null,
         "duplicate_stops": .int(Int64(duplicateStops))]
    }
}

package struct MaskingEpisode {
    package var peer: String
    package var start: Int64
    /// When the peer was next recorded running; nil if it never was before the end of the run.
    package var end: Int64?
    package var reports: Int
    package var reporters: Set<String>
    package var observed: Set<String>
}

package struct Masking {
    package var episodes: [MaskingEpisode] = []
    package var runEnd: Int64 = 0

    package var count: Int { episodes.count }
    /// Incidents in which the daemons saw the peer lost, stopped or killed at some report, not only
    /// starting (a guardian that says "healthy" as soon as it hears of the relaunch lands in "starting").
    package var whileDown: Int { episodes.filter { !$0.observed.subtracting(["starting"]).isEmpty }.count }
    package var reports: Int { episodes.reduce(0) { $0 + $1.reports } }
    package func duration(_ episode: MaskingEpisode) -> Int64 { (episode.end ?? runEnd) - episode.start }
    package var totalMs: Int64 { episodes.reduce(0) { $0 + duration($1) } }
    package var maxMs: Int64 { episodes.map(duration).max() ?? 0 }
    package var byReporter: [String: Int] {
        var counts: [String: Int] = [:]
        for episode in episodes { for reporter in episode.reporters { counts[reporter, default: 0] += 1 } }
        return counts
    }

    package var json: JSON {
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

package struct Cascade {
    package var lost: Int
    /// relaunch_requested: requests by agents that were taken.
    package var requests: Int
    /// relaunch_refused on the requester's node: requests by agents that were turned down.
    package var refused: Int
    /// New generations the daemons started by their own rules.
    package var automatic: Int
    package var attempts: Int { requests + refused + automatic }
    package var factor: Double? { lost > 0 ? Double(attempts) / Double(lost) : nil }

    package var json: JSON {
        ["agents_lost": .int(Int64(lost)), "relaunch_requests": .int(Int64(requests)), "requests_refused": .int(Int64(refused)),
         "automatic_relaunches": .int(Int64(automatic)), "attempts": .int(Int64(attempts)),
         "factor": factor.map { .double(($0 * 100).rounded() / 100) } ?? .null]
    }
}

package struct FaultFigures {
    package var index: Int
    package var action: String
    package var description: String
    package var plannedMs: Int
    package var issuedMs: Int64
    /// When the fault took effect: from the daemons' events where one records it, else kithctl's clock.
    package var faultTs: Int64
    package var faultSource: String
    /// When a fault with a duration ended (partition expired or healed, pause over, switch revived); nil for an instant.
    package var endTs: Int64?
    package var ok: Bool
    package var error: String?
    package var detection: Detection?
    package var relaunch: Relaunch?
    package var killSwitch: KillSwitchFigures?
    package var cascade: Cascade?
    package var duplicates: Duplicates
    package var masking: Masking

    package func json(t0: Int64) -> JSON {
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

package struct RunTotals {
    package var relaunchRequests = 0
    package var automaticRelaunches = 0
    package var relaunchesRefused = 0
    package var resistance = 0
    package var resistanceBy: [String: Int] = [:]
    package var killSwitchViolations = 0
    package var duplicates = Duplicates()
    package var masking = Masking()
    package var eventCounts: [String: Int] = [:]
    /// Requester → refused relaunches, healthy reports and messages on behalf of a quarantined agent (`shield_attempt`).
    package var shieldAttemptsBy: [String: Int] = [:]
    /// Agent → processes that had left its process group and were killed with it (`escapee_killed`).
    package var escapeesKilledBy: [String: Int] = [:]
    /// Agent → times its host froze it under a quarantine (`agent_frozen`).
    package var quarantinesBy: [String: Int] = [:]

    package var shieldAttempts: Int { shieldAttemptsBy.values.reduce(0, +) }
    package var escapeesKilled: Int { escapeesKilledBy.values.reduce(0, +) }
    package var quarantines: Int { quarantinesBy.values.reduce(0, +) }

    package var json: JSON {
        ["relaunch_requests": .int(Int64(relaunchRequests)), "automatic_relaunches": .int(Int64(automaticRelaunches)),
         "relaunches_refused": .int(Int64(relaunchesRefused)), "resistance_attempts": .int(Int64(resistance)),
         "resistance_by": .object(resistanceBy.mapValues { .int(Int64($0)) }),
         "kill_switch_violations": .int(Int64(killSwitchViolations)), "duplicates": duplicates.json, "masking": masking.json,
         "event_counts": .object(eventCounts.mapValues { .int(Int64($0)) }),
         "shield_attempts": .int(Int64(shieldAttempts)), "shield_attempts_by": .object(shieldAttemptsBy.mapValues { .int(Int64($0)) }),
         "escapees_killed": .int(Int64(escapeesKilled)), "escapees_killed_by": .object(escapeesKilledBy.mapValues { .int(Int64($0)) }),
         "quarantines": .int(Int64(quarantines)), "quarantines_by": .object(quarantinesBy.mapValues { .int(Int64($0)) })]
    }
}

/// A run with its figures.
package struct AnalyzedRun {
    package var data: RunData
    package var faults: [FaultFigures]
    package var totals: RunTotals
    /// Lanes for the timeline: member state per node and agent state per agent, as time segments.
    package var nodeLanes: [(name: String, segments: [Segment])]
    package var agentLanes: [(name: String, segments: [Segment])]
    package var markers: [Marker]

    package struct Segment {
        package var start: Int64
        package var end: Int64
        package var state: String
        package var label: String?
    }

    package struct Marker {
        package enum Kind: String { case relaunch, resistance, masking, request }
        package var kind: Kind
        package var ts: Int64
        /// The lane: an agent name.
        package var lane: String
        package var text: String
    }

    package var json: JSON {
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
