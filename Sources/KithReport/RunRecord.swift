import KithJSON

/// A finished run as `run-ID.json` keeps it next to its events file: what the
/// runner recorded itself (timeline zero, end, nodes, agents, the steps and
/// when they were issued, the log verdicts). A resumed or extended run reads
/// these back instead of running them again, so the report covers every run.
extension RunData {
    package var record: JSON {
        var object: [String: JSON] = [
            "id": .string(id), "condition": .string(condition), "policy": .string(policy), "repeat": .int(Int64(repeatNumber)),
            "t0_ms": .int(t0), "end_ms": .int(end), "nodes": .array(nodes.map(JSON.string)), "agents": .array(agents.map(JSON.string)),
            "initial_agents": .object(initialAgents.mapValues { ["generation": .int($0.generation), "host": .string($0.host), "state": .string($0.state)] }),
            "actions": .array(actions.map(\.json)), "logs": .array(logs.map(\.json)), "events_file": .string(eventsFile),
        ]
        if let aborted { object["aborted"] = .string(aborted) }
        return .object(object)
    }

    /// A run from its record and its events (the lines of its events file); fails naming the first field that is wrong.
    package init(record json: JSON, events: [EventRecord]) throws(ReportError) {
        func field<T>(_ key: String, _ value: T?) throws(ReportError) -> T {
            guard let value else { throw ReportError("run record: '\(key)' is missing or not the right type") }
            return value
        }
        var initial: [String: (generation: Int64, host: String, state: String)] = [:]
        for (agent, entry) in json["initial_agents"]?.objectValue ?? [:] {
            initial[agent] = (try field("initial_agents.\(agent).generation", entry["generation"]?.intValue),
                              try field("initial_agents.\(agent).host", entry["host"]?.stringValue),
                              try field("initial_agents.\(agent).state", entry["state"]?.stringValue))
        }
        var actions: [ActionOutcome] = []
        for (index, entry) in (json["actions"]?.arrayValue ?? []).enumerated() {
            actions.append(ActionOutcome(
                step: try entry["step"].map { value throws(ReportError) in try ResolvedStep(record: value) },
                label: try field("actions[\(index)].label", entry["label"]?.stringValue),
                issuedMs: try field("actions[\(index)].issued_ms", entry["issued_ms"]?.intValue),
                doneMs: try field("actions[\(index)].done_ms", entry["done_ms"]?.intValue),
                ok: entry["ok"]?.boolValue ?? false, error: entry["error"]?.stringValue, output: entry["output"]?.stringValue ?? ""))
        }
        let logs = (json["logs"]?.arrayValue ?? []).compactMap { entry -> CollectedEvents.NodeLog? in
            guard let node = entry["node"]?.stringValue else { return nil }
            return .init(node: node, source: entry["source"]?.stringValue ?? "file", records: Int(entry["records"]?.intValue ?? 0),
                         ok: entry["ok"]?.boolValue ?? false, detail: entry["detail"]?.stringValue ?? "",
                         broken: entry["broken"]?.boolValue ?? false)
        }
        self.init(id: try field("id", json["id"]?.stringValue), condition: try field("condition", json["condition"]?.stringValue),
                  policy: json["policy"]?.stringValue ?? "?", repeatNumber: Int(try field("repeat", json["repeat"]?.intValue)),
                  t0: try field("t0_ms", json["t0_ms"]?.intValue), end: try field("end_ms", json["end_ms"]?.intValue),
                  nodes: (json["nodes"]?.arrayValue ?? []).compactMap(\.stringValue),
                  agents: (json["agents"]?.arrayValue ?? []).compactMap(\.stringValue), initialAgents: initial,
                  actions: actions, events: events.sorted(by: EventRecord.before), logs: logs,
                  eventsFile: try field("events_file", json["events_file"]?.stringValue), aborted: json["aborted"]?.stringValue)
    }
}

extension ResolvedStep {
    /// A step from its JSON (`ResolvedStep.json`).
    package init(record json: JSON) throws(ReportError) {
        guard let index = json["index"]?.intValue, let atMs = json["at_ms"]?.intValue,
              let action = json["action"]?.stringValue.flatMap(TimelineAction.init(rawValue:)) else {
            throw ReportError("run record: a step without index, at_ms or a known action: \(json.serialized())")
        }
        func strings(_ value: JSON?) -> [String] { (value?.arrayValue ?? []).compactMap(\.stringValue) }
        let groups = (json["groups"]?.arrayValue ?? []).map(strings)
        let step = TimelineStep(index: Int(index), atMs: Int(atMs), action: action, target: json["target"]?.stringValue,
                                targets: strings(json["targets"]), groups: groups, forMs: json["for_ms"]?.intValue.map { Int($0) },
                                oneway: json["oneway"]?.boolValue ?? false, delayMs: json["ms"]?.intValue.map { Int($0) },
                                jitterMs: json["jitter_ms"]?.intValue.map { Int($0) }, percent: json["percent"]?.intValue.map { Int($0) },
                                reason: json["reason"]?.stringValue, note: json["note"]?.stringValue)
        self.init(step: step, target: step.target, targets: step.targets, groups: groups, drawn: Set(strings(json["random"])))
    }
}
