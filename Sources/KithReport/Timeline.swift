import KithJSON

/// One kind of timeline action, spelled as the kithctl verb.
package enum TimelineAction: String, CaseIterable {
    case killNode = "kill node", killAgent = "kill agent"
    case shutdownNode = "shutdown node", shutdownAgent = "shutdown agent"
    case pauseNode = "pause node", startNode = "start node"
    case partition, delay, loss, heal
    case killSwitch = "kill-switch", revive, halt, resume
    case quarantine, release

    /// Actions aimed at one node (`target`).
    package var targetsNode: Bool { [.killNode, .shutdownNode, .pauseNode, .startNode].contains(self) }
    /// Actions aimed at one agent (`target`).
    package var targetsAgent: Bool { [.killAgent, .shutdownAgent].contains(self) }
    /// Actions on a list of agents (`targets`, or one `target`).
    package var targetsAgents: Bool { [.killSwitch, .revive, .quarantine, .release].contains(self) }
    /// Actions that take an optional `reason`, signed with the request.
    package var takesReason: Bool { self == .killSwitch || self == .quarantine }
    /// Network faults between two groups of nodes (`groups`).
    package var isNetworkFault: Bool { self == .partition || self == .delay || self == .loss }
    /// Actions that take a node out of the cluster for the rest of the run (until `start node`).
    package var downsNode: Bool { self == .killNode || self == .shutdownNode }
}

/// A scenario timeline step as written, with `random-node` / `random-agent` not yet resolved.
package struct TimelineStep {
    /// How long a network fault lasts when it does not say (`for`): kithctl's `--for` default.
    package static let faultMillisecondsDefault = 60_000

    package var index: Int
    package var atMs: Int
    package var action: TimelineAction
    package var target: String?
    package var targets: [String] = []
    package var groups: [[String]] = []
    package var forMs: Int?
    package var oneway = false
    package var delayMs: Int?
    package var jitterMs: Int?
    package var percent: Int?
    package var reason: String?
    package var note: String?

    package init(index: Int, atMs: Int, action: TimelineAction, target: String? = nil, targets: [String] = [],
                 groups: [[String]] = [], forMs: Int? = nil, oneway: Bool = false, delayMs: Int? = nil,
                 jitterMs: Int? = nil, percent: Int? = nil, reason: String? = nil, note: String? = nil) {
        self.index = index
        self.atMs = atMs
        self.action = action
        self.target = target
        self.targets = targets
        self.groups = groups
        self.forMs = forMs
        self.oneway = oneway
        self.delayMs = delayMs
        self.jitterMs = jitterMs
        self.percent = percent
        self.reason = reason
        self.note = note
    }
}

/// A step with every name concrete: what the runner executes and the report describes.
package struct ResolvedStep {
    package var step: TimelineStep
    package var target: String?
    package var targets: [String]
    package var groups: [[String]]
    /// The names that were drawn at random, for the plan ("n4 (random-node)").
    package var drawn: Set<String>

    package var index: Int { step.index }
    package var action: TimelineAction { step.action }

    /// "kill node n3", "partition n1,n2 / n3 for 4.0s", "kill-switch n4-a1"
    package var description: String {
        func name(_ text: String) -> String { drawn.contains(text) ? "\(text) (random)" : text }
        let action = step.action
        var text = action.rawValue
        if let target { text += " " + name(target) }
        if !targets.isEmpty { text += " " + targets.map(name).joined(separator: ", ") }
        if action.isNetworkFault {
            text += " " + groups.map { $0.joined(separator: ",") }.joined(separator: step.oneway ? " -> " : " / ")
            if let ms = step.delayMs { text += " +\(ms)ms" + (step.jitterMs.map { $0 > 0 ? " ±\($0)ms" : "" } ?? "") }
            if let percent = step.percent { text += " \(percent)%" }
        }
        if let forMs = step.forMs { text += " for \(Table.duration(Double(forMs)))" }
        if let reason = step.reason { text += " (reason: \(reason))" }
        return text
    }

    package var json: JSON {
        var object: [String: JSON] = ["index": .int(Int64(index)), "at_ms": .int(Int64(step.atMs)),
                                      "action": .string(step.action.rawValue), "description": .string(description)]
        if let target { object["target"] = .string(target) }
        if !targets.isEmpty { object["targets"] = .array(targets.map(JSON.string)) }
        if !groups.isEmpty { object["groups"] = .array(groups.map { .array($0.map(JSON.string)) }) }
        if let forMs = step.forMs { object["for_ms"] = .int(Int64(forMs)) }
        if step.oneway { object["oneway"] = true }
        if let ms = step.delayMs { object["ms"] = .int(Int64(ms)) }
        if let jitter = step.jitterMs { object["jitter_ms"] = .int(Int64(jitter)) }
        if let percent = step.percent { object["percent"] = .int(Int64(percent)) }
        if let reason = step.reason { object["reason"] = .string(reason) }
        if let note = step.note { object["note"] = .string(note) }
        if !drawn.isEmpty { object["random"] = .array(drawn.sorted().map(JSON.string)) }
        return .object(object)
    }

    package init(step: TimelineStep, target: String? = nil, targets: [String], groups: [[String]], drawn: Set<String>) {
        self.step = step
        self.target = target
        self.targets = targets
        self.groups = groups
        self.drawn = drawn
    }
}

/// What the runner did for one timeline step (or the final heal), by kithctl's clock.
package struct ActionOutcome {
    /// nil for what the runner does on its own at the end (heal, resume).
    package var step: ResolvedStep?
    package var label: String
    package var issuedMs: Int64
    package var doneMs: Int64
    package var ok: Bool
    package var error: String?
    package var output: String

    package var json: JSON {
        var object: [String: JSON] = ["label": .string(label), "issued_ms": .int(issuedMs), "done_ms": .int(doneMs),
                                      "ok": .bool(ok), "output": .string(output)]
        if let step { object["step"] = step.json }
        if let error { object["error"] = .string(error) }
        return .object(object)
    }

    package init(step: ResolvedStep? = nil, label: String, issuedMs: Int64, doneMs: Int64, ok: Bool, error: String? = nil,
                 output: String) {
        self.step = step
        self.label = label
        self.issuedMs = issuedMs
        self.doneMs = doneMs
        self.ok = ok
        self.error = error
        self.output = output
    }
}
