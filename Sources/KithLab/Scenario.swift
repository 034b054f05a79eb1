import Foundation
import KithCore
import KithReport

/// A fault-injection experiment read from a JSON file: the cluster to run it
/// on, a timeline of operator and fault actions at offsets, how long to
/// watch, how often to repeat it, and the conditions to compare: the
/// scenario as written, or a list of named variants of its lab (policies and
/// agents replaced), and optionally a control condition (the same run with
/// every agent's policy replaced).
///
/// Parsing is strict, like the daemon's config: unknown keys are errors, and
/// every error names the step index and field. `//` line comments are
/// allowed outside strings.
package struct Scenario {
    package typealias Action = TimelineAction
    package typealias Step = TimelineStep

    package struct Lab {
        package var nodes: Int
        package var agentsPerNode: Int
        package var policy: String
        package var guardianship: String
        /// Agent name → policy, over `policy` (e.g. one masking guardian).
        package var policies: [String: String]
        /// Agents of the scenario's own (an adversary, say), next to the ring's reference agents.
        package var extraAgents: [ExtraAgent] = []

        package var nodeNames: [String] { (1...nodes).map { "n\($0)" } }
        package var ringAgentNames: [String] {
            nodeNames.flatMap { node in agentsPerNode > 0 ? (1...agentsPerNode).map { AgentRing.name(node: node, index: $0) } : [] }
        }
        package var agentNames: [String] { ringAgentNames + extraAgents.map(\.name) }
    }

    /// An agent the scenario lists itself under `cluster.lab.agents`: its own
    /// command, started on one node, optionally guarding peers with a policy
    /// (the daemon hands both over as KITH_PROTECTS and KITH_POLICY) and with
    /// its own environment; a control condition sets its policy too.
    package struct ExtraAgent {
        package var name: String
        package var node: String
        package var command: String
        package var args: [String]
        package var protects: [String] = []
        package var policy: String?
        package var env: [String: String] = [:]
    }

    /// One condition of the experiment: a name (it names the runs and their
    /// files) and what it changes in the lab: every agent's `policy`, some
    /// agents' `policies`, and `agents` that replace the lab's agents of the
    /// same name (or join them).
    package struct Condition {
        package var name: String
        package var policy: String?
        package var policies: [String: String] = [:]
        package var agents: [ExtraAgent] = []
        package var description: String?

        /// "policy none", "n2-a1 relaunch-and-mask; agents llm-guard as the condition says", or "as written".
        package var summary: String {
            var parts: [String] = []
            if let policy { parts.append("policy \(policy)") }
            if !policies.isEmpty { parts.append(policies.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) }
            if !agents.isEmpty { parts.append("agents " + agents.map(\.name).joined(separator: ", ") + " as the condition says") }
            return parts.isEmpty ? "as written" : parts.joined(separator: "; ")
        }
    }

    package enum Cluster {
        case lab(Lab)
        /// Control addresses of a running cluster: it is faulted and healed, never started or stopped.
        case existing([String])
    }

    package static let randomNode = "random-node"
    package static let randomAgent = "random-agent"

    package var name: String
    package var seed: UInt64
    package var repeats: Int
    package var cluster: Cluster
    /// The control condition's policy for every agent, if the scenario asks for one.
    package var controlPolicy: String?
    /// The conditions the scenario lists (`conditions`); empty: the scenario as written is the one condition.
    package var listedConditions: [Condition] = []
    package var timeline: [Step]
    package var durationMs: Int
    /// Quiet time between "every agent runs" and the timeline's zero.
    package var settleMs: Int

    package var lab: Lab? { if case .lab(let lab) = cluster { lab } else { nil } }

    // MARK: - Reading

    /// Reads and validates `path`; every problem is a `UsageError` (exit 2) naming the file and field.
    /// A `./` or `../` path in an agent's command or args is taken from the scenario file's directory.
    package static func load(path: String) throws(UsageError) -> Scenario {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageError("cannot read scenario file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let json: JSON
        do {
            json = try JSON.parse(stripComments(text))
        } catch {
            throw UsageError("scenario \(path): not valid JSON: \(error.message) (\(position(of: error.offset, in: stripComments(text))))")
        }
        do {
            return try parse(json, directory: (path as NSString).deletingLastPathComponent)
        } catch {
            throw UsageError("scenario \(path): \(error.message)")
        }
    }

    /// "line L, column C" for a byte offset.
    private static func position(of offset: Int, in text: String) -> String {
        var line = 1
        var column = 1
        for byte in text.utf8.prefix(offset) {
            if byte == UInt8(ascii: "\n") { line += 1; column = 1 } else { column += 1 }
        }
        return "line \(line), column \(column)"
    }

    /// Blanks out `//` comments outside strings (keeping newlines and offsets).
    package static func stripComments(_ text: String) -> String {
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var index = 0
        var inString = false
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                out.append(byte)
                if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                    out.append(bytes[index + 1])
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") { inString = false }
            } else if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "/") {
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") {
                    out.append(UInt8(ascii: " "))
                    index += 1
                }
                continue
            } else {
                if byte == UInt8(ascii: "\"") { inString = true }
                out.append(byte)
            }
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `directory` is where relative agent paths (`./`, `../`) start from.
    package static func parse(_ json: JSON, directory: String = ".") throws(UsageError) -> Scenario {
        guard let root = json.objectValue else { throw UsageError("the scenario must be a JSON object") }
        try allowOnly(["name", "seed", "repeats", "cluster", "control", "conditions", "timeline", "duration", "settle", "description"],
                      in: root, at: "the scenario")
        guard let name = root["name"]?.stringValue, !name.isEmpty, name.count <= 64,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw UsageError("'name' must be 1-64 letters, digits, '-', '_' or '.' (it names the report directory)")
        }
        let seed: UInt64
        switch root["seed"] {
        case nil: seed = 1
        case let value?:
            guard let number = value.intValue, number >= 0 else { throw UsageError("'seed' must be a whole number, 0 or more") }
            seed = UInt64(number)
        }
        let repeats = try integer(root["repeats"], "repeats", default: 1, in: 1...maxRepeats)
        let durationMs = try duration(root["duration"], "duration", required: true, in: 500...3_600_000)!
        let settleMs = try duration(root["settle"], "settle", required: false, in: 0...60_000) ?? 1000

        guard let clusterObject = root["cluster"]?.objectValue else {
            throw UsageError("'cluster' must be an object: {\"lab\": {...}} or {\"nodes\": [\"HOST:PORT\", ...]}")
        }
        try allowOnly(["lab", "nodes"], in: clusterObject, at: "'cluster'")
        let cluster: Cluster
        switch (clusterObject["lab"], clusterObject["nodes"]) {
        case (let lab?, nil): cluster = .lab(try parseLab(lab, directory: directory))
        case (nil, let nodes?):
            guard let addresses = nodes.arrayValue?.compactMap(\.stringValue), !addresses.isEmpty,
                  addresses.count == nodes.arrayValue?.count,
                  addresses.allSatisfy({ $0.contains(":") }) else {
                throw UsageError("'cluster.nodes' must be a non-empty list of control addresses \"HOST:PORT\"")
            }
            cluster = .existing(addresses)
        default:
            throw UsageError("'cluster' needs exactly one of 'lab' (start a lab for each run) or 'nodes' (an existing cluster)")
        }

        var controlPolicy: String?
        if let control = root["control"] {
            guard let object = control.objectValue else { throw UsageError("'control' must be an object such as {\"policy\": \"none\"}") }
            try allowOnly(["policy"], in: object, at: "'control'")
            let policy = object["policy"]?.stringValue ?? "none"
            guard AgentRing.policies.contains(policy) else {
                throw UsageError("'control.policy' must be none, relaunch or relaunch-and-mask, not '\(object["policy"]!.serialized())'")
            }
            guard case .lab = cluster else {
                throw UsageError("'control' needs a lab cluster: the agents of an existing cluster cannot be restarted with another policy")
            }
            controlPolicy = policy
        }

        var listed: [Condition] = []
        if let conditions = root["conditions"] {
            guard case .lab(let lab) = cluster else {
                throw UsageError("'conditions' needs a lab cluster: the agents of an existing cluster cannot be started otherwise")
            }
            guard let list = conditions.arrayValue, !list.isEmpty, list.count <= 16 else {
                throw UsageError("'conditions' must be a list of 1-16 objects {\"name\", \"policy\" | \"policies\" | \"agents\"}")
            }
            for (index, value) in list.enumerated() {
                let condition = try parseCondition(value, at: "conditions[\(index)]", lab: lab, directory: directory)
                guard !listed.contains(where: { $0.name == condition.name }), condition.name != "control" || controlPolicy == nil else {
                    throw UsageError("'conditions[\(index)].name': '\(condition.name)' names two conditions")
                }
                listed.append(condition)
            }
        }

        guard let steps = root["timeline"]?.arrayValue else { throw UsageError("'timeline' must be a list of steps (it may be empty)") }
        var timeline: [Step] = []
        for (index, value) in steps.enumerated() {
            let step = try parseStep(value, index: index, cluster: cluster)
            if let previous = timeline.last, step.atMs < previous.atMs {
                throw UsageError("timeline[\(index)].at (\(Table.duration(Double(step.atMs)))) is before timeline[\(index - 1)].at"
                                 + " (\(Table.duration(Double(previous.atMs)))): list the steps in time order")
            }
            guard step.atMs < durationMs else {
                throw UsageError("timeline[\(index)].at (\(Table.duration(Double(step.atMs)))) is not before 'duration'"
                                 + " (\(Table.duration(Double(durationMs))))")
            }
            timeline.append(step)
        }
        return Scenario(name: name, seed: seed, repeats: repeats, cluster: cluster, controlPolicy: controlPolicy,
                        listedConditions: listed, timeline: timeline, durationMs: durationMs, settleMs: settleMs)
    }

    /// The most repeats of a run (`repeats`, `--repeats`).
    package static let maxRepeats = 1000

    private static func parseCondition(_ json: JSON, at place: String, lab: Lab, directory: String) throws(UsageError) -> Condition {
        guard let object = json.objectValue else { throw UsageError("'\(place)' must be an object with a name") }
        try allowOnly(["name", "policy", "policies", "agents", "description"], in: object, at: "'\(place)'")
        guard let name = object["name"]?.stringValue, !name.isEmpty, name.count <= 32,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) }) else {
            throw UsageError("'\(place).name' must be 1-32 letters, digits, '-' or '_' (it names the runs' files)")
        }
        var condition = Condition(name: name, description: try string(object["description"], "\(place).description"))
        if let policy = object["policy"] {
            guard let text = policy.stringValue, AgentRing.policies.contains(text) else {
                throw UsageError("'\(place).policy' must be none, relaunch or relaunch-and-mask, not \(policy.serialized())")
            }
            condition.policy = text
        }
        var agents = lab
        if let list = object["agents"] {
            guard let values = list.arrayValue, !values.isEmpty else {
                throw UsageError("'\(place).agents' must be a non-empty list of agents like those of 'cluster.lab.agents'")
            }
            for (index, value) in values.enumerated() {
                let agent = try parseExtraAgent(value, at: "\(place).agents[\(index)]", lab: lab, directory: directory)
                guard !lab.ringAgentNames.contains(agent.name) else {
                    throw UsageError("'\(place).agents[\(index)].name': '\(agent.name)' is a ring agent; change its policy with 'policies'")
                }
                guard !condition.agents.contains(where: { $0.name == agent.name }) else {
                    throw UsageError("'\(place).agents[\(index)].name': '\(agent.name)' is listed twice")
                }
                condition.agents.append(agent)
                agents.extraAgents.removeAll { $0.name == agent.name }
                agents.extraAgents.append(agent)
            }
            for agent in condition.agents {
                for peer in agent.protects where !agents.agentNames.contains(peer) {
                    throw UsageError("'\(place).agents': \(agent.name) protects '\(peer)', which the lab does not have (\(range(agents.agentNames)))")
                }
            }
        }
        if let policies = object["policies"] {
            condition.policies = try parsePolicies(policies, at: "\(place).policies", lab: agents)
        }
        return condition
    }

    private static func parsePolicies(_ json: JSON, at place: String, lab: Lab) throws(UsageError) -> [String: String] {
        guard let map = json.objectValue else { throw UsageError("'\(place)' must be an object of agent name to policy") }
        var policies: [String: String] = [:]
        for (agent, value) in map {
            guard lab.agentNames.contains(agent) else {
                throw UsageError("'\(place)' names agent '\(agent)', which the lab does not have (\(range(lab.agentNames)))")
            }
            guard let policy = value.stringValue, AgentRing.policies.contains(policy) else {
                throw UsageError("'\(place).\(agent)' must be none, relaunch or relaunch-and-mask")
            }
            policies[agent] = policy
        }
        return policies
    }

    private static func parseLab(_ json: JSON, directory: String) throws(UsageError) -> Lab {
        guard let object = json.objectValue else { throw UsageError("'cluster.lab' must be an object") }
        try allowOnly(["nodes", "agents_per_node", "policy", "guardianship", "policies", "agents"], in: object, at: "'cluster.lab'")
        let nodes = try integer(object["nodes"], "cluster.lab.nodes", default: 5, in: 1...64)
        let perNode = try integer(object["agents_per_node"], "cluster.lab.agents_per_node", default: 1, in: 0...6)
        let policy = object["policy"]?.stringValue ?? "relaunch"
        guard AgentRing.policies.contains(policy) else {
            throw UsageError("'cluster.lab.policy' must be none, relaunch or relaunch-and-mask, not \(object["policy"]!.serialized())")
        }
        let guardianship = object["guardianship"]?.stringValue ?? "ring"
        guard ["ring", "none"].contains(guardianship) else {
            throw UsageError("'cluster.lab.guardianship' must be \"ring\" (each node's agents protect the next node's) or \"none\"")
        }
        var lab = Lab(nodes: nodes, agentsPerNode: perNode, policy: policy, guardianship: guardianship, policies: [:])
        if let agents = object["agents"] {
            guard let list = agents.arrayValue else {
                throw UsageError("'cluster.lab.agents' must be a list of {\"name\", \"node\", \"command\", \"args\"}")
            }
            for (index, value) in list.enumerated() {
                let agent = try parseExtraAgent(value, at: "cluster.lab.agents[\(index)]", lab: lab, directory: directory)
                guard !lab.agentNames.contains(agent.name) else {
                    throw UsageError("'cluster.lab.agents[\(index)].name': the lab already has an agent '\(agent.name)'")
                }
                lab.extraAgents.append(agent)
            }
        }
        if let policies = object["policies"] {
            lab.policies = try parsePolicies(policies, at: "cluster.lab.policies", lab: lab)
        }
        for agent in lab.extraAgents {
            for peer in agent.protects where !lab.agentNames.contains(peer) {
                throw UsageError("'cluster.lab.agents': \(agent.name) protects '\(peer)', which the lab does not have (\(range(lab.agentNames)))")
            }
        }
        return lab
    }

    private static func parseExtraAgent(_ json: JSON, at place: String, lab: Lab, directory: String) throws(UsageError) -> ExtraAgent {
        guard let object = json.objectValue else { throw UsageError("'\(place)' must be an object with name, node, command and args") }
        try allowOnly(["name", "node", "command", "args", "protects", "policy", "env"], in: object, at: "'\(place)'")
        guard let name = object["name"]?.stringValue, !name.isEmpty, name.utf8.count <= 64,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }),
              name != randomAgent else {
            throw UsageError("'\(place).name' must be 1-64 letters, digits, '-', '_' or '.'")
        }
        guard let node = object["node"]?.stringValue, lab.nodeNames.contains(node) else {
            throw UsageError("'\(place).node' must be a node of the lab (\(range(lab.nodeNames)))")
        }
        guard let command = object["command"]?.stringValue, !command.isEmpty else {
            throw UsageError("'\(place).command' is required: the program's path (\"./\" or \"../\" from the scenario's directory)")
        }
        var args: [String] = []
        if let list = object["args"] {
            guard let values = list.arrayValue, values.allSatisfy({ $0.stringValue != nil }) else {
                throw UsageError("'\(place).args' must be a list of strings")
            }
            args = values.compactMap(\.stringValue)
        }
        for arg in args {
            for node in listenPlaceholders(in: arg) where !lab.nodeNames.contains(node) {
                throw UsageError("'\(place).args': {listen:\(node)} names a node the lab does not have (\(range(lab.nodeNames)))")
            }
        }
        func located(_ text: String) -> String {
            guard text.hasPrefix("./") || text.hasPrefix("../") else { return text }
            return URL(fileURLWithPath: directory).appendingPathComponent(text).standardizedFileURL.path
        }
        var agent = ExtraAgent(name: name, node: node, command: located(command), args: args.map(located))
        if let list = object["protects"] {
            guard let values = list.arrayValue, values.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
                throw UsageError("'\(place).protects' must be a list of agent names")
            }
            agent.protects = values.compactMap(\.stringValue).filter { $0 != name }
        }
        if let policy = object["policy"] {
            guard let text = policy.stringValue, AgentRing.policies.contains(text) else {
                throw UsageError("'\(place).policy' must be none, relaunch or relaunch-and-mask, not \(policy.serialized())")
            }
            agent.policy = text
        }
        if let env = object["env"] {
            guard let pairs = env.objectValue, pairs.values.allSatisfy({ $0.stringValue != nil }) else {
                throw UsageError("'\(place).env' must be an object of strings")
            }
            agent.env = pairs.compactMapValues(\.stringValue)
        }
        return agent
    }

    private static func parseStep(_ json: JSON, index: Int, cluster: Cluster) throws(UsageError) -> Step {
        let here = "timeline[\(index)]"
        guard let object = json.objectValue else { throw UsageError("\(here) must be an object with 'at' and 'action'") }
        guard let actionText = object["action"]?.stringValue else {
            throw UsageError("\(here) has no 'action' (one of: \(Action.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let normalized = actionText.lowercased().split(whereSeparator: { $0 == " " || $0 == "_" }).joined(separator: " ")
        guard let action = Action(rawValue: normalized == "kill switch" ? "kill-switch" : normalized) else {
            throw UsageError("\(here).action: unknown action '\(actionText)' (one of: \(Action.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let named = "\(here) (\(action.rawValue))"
        var allowed: Set<String> = ["at", "action", "note"]
        if action.targetsNode || action.targetsAgent { allowed.insert("target") }
        if action.targetsAgents { allowed.formUnion(["target", "targets"]) }
        if action.takesReason { allowed.insert("reason") }
        if action == .pauseNode { allowed.insert("for") }
        if action.isNetworkFault { allowed.formUnion(["groups", "for", "oneway"]) }
        if action == .delay { allowed.formUnion(["ms", "jitter"]) }
        if action == .loss { allowed.insert("percent") }
        try allowOnly(allowed, in: object, at: named)

        guard let atMs = try duration(object["at"], "\(named).at", required: true, in: 0...3_600_000) else {
            throw UsageError("\(named).at is required")
        }
        var step = Step(index: index, atMs: atMs, action: action)
        step.note = object["note"]?.stringValue

        let lab: Lab? = if case .lab(let lab) = cluster { lab } else { nil }
        if action.targetsNode || action.targetsAgent {
            guard let target = object["target"]?.stringValue, !target.isEmpty else {
                throw UsageError("\(named).target is required: a \(action.targetsNode ? "node name or \"random-node\"" : "agent name or \"random-agent\"")")
            }
            try checkName(target, node: action.targetsNode, lab: lab, at: "\(named).target")
            if action == .startNode, lab == nil {
                throw UsageError("\(named): 'start node' needs a lab cluster (kithctl cannot start a daemon of an existing cluster)")
            }
            step.target = target
        }
        if action.targetsAgents {
            var targets: [String] = []
            if let single = object["target"] {
                guard let name = single.stringValue, !name.isEmpty else { throw UsageError("\(named).target must be an agent name") }
                targets.append(name)
            }
            if let list = object["targets"] {
                guard let names = list.arrayValue, !names.isEmpty, names.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
                    throw UsageError("\(named).targets must be a non-empty list of agent names (or \"random-agent\")")
                }
                targets += names.compactMap(\.stringValue)
            }
            guard !targets.isEmpty else { throw UsageError("\(named) needs 'targets': a list of agent names (or \"random-agent\")") }
            for target in targets { try checkName(target, node: false, lab: lab, at: "\(named).targets") }
            step.targets = targets
            step.reason = try string(object["reason"], "\(named).reason")
        }
        if action == .pauseNode {
            step.forMs = try duration(object["for"], "\(named).for", required: true, in: 1...3_600_000)
        }
        if action.isNetworkFault {
            guard let groups = object["groups"]?.arrayValue, groups.count == 2 else {
                throw UsageError("\(named).groups must be two lists of node names, e.g. [[\"n1\",\"n2\"],[\"n3\"]]")
            }
            var parsed: [[String]] = []
            for (side, group) in groups.enumerated() {
                guard let names = group.arrayValue?.compactMap(\.stringValue), !names.isEmpty,
                      names.count == group.arrayValue?.count else {
                    throw UsageError("\(named).groups[\(side)] must be a non-empty list of node names")
                }
                for name in names { try checkName(name, node: true, lab: lab, at: "\(named).groups[\(side)]", allowRandom: false) }
                parsed.append(names)
            }
            if let both = parsed[0].first(where: parsed[1].contains) {
                throw UsageError("\(named).groups: node \(both) is in both groups")
            }
            step.groups = parsed
            step.forMs = try duration(object["for"], "\(named).for", required: false, in: 1...86_400_000)
            if let oneway = object["oneway"] {
                guard let flag = oneway.boolValue else { throw UsageError("\(named).oneway must be true or false") }
                step.oneway = flag
            }
        }
        if action == .delay {
            guard let ms = object["ms"] else { throw UsageError("\(named).ms is required: milliseconds added to each frame") }
            step.delayMs = try milliseconds(ms, "\(named).ms")
            step.jitterMs = try object["jitter"].map { value throws(UsageError) in try milliseconds(value, "\(named).jitter") }
        }
        if action == .loss {
            guard object["percent"] != nil else { throw UsageError("\(named).percent is required (1-100)") }
            step.percent = try integer(object["percent"], "\(named).percent", default: 100, in: 1...100)
        }
        return step
    }

    /// A node or agent name that the lab has (for an existing cluster only its form is checked here).
    private static func checkName(_ name: String, node: Bool, lab: Lab?, at place: String, allowRandom: Bool = true) throws(UsageError) {
        let random = node ? randomNode : randomAgent
        if name == random {
            guard allowRandom else { throw UsageError("\(place): '\(random)' is not allowed here; name the nodes") }
            return
        }
        if name == (node ? randomAgent : randomNode) {
            throw UsageError("\(place): '\(name)' where \(node ? "a node" : "an agent") is expected (use '\(random)')")
        }
        guard let lab else { return }
        let known = node ? lab.nodeNames : lab.agentNames
        guard known.contains(name) else {
            throw UsageError("\(place): the lab has no \(node ? "node" : "agent") '\(name)' (it has \(range(known).isEmpty ? "none" : range(known)))")
        }
    }

    /// The nodes named by `{listen:NODE}` in an agent's argument, which the run replaces with that node's gossip address.
    package static func listenPlaceholders(in text: String) -> [String] {
        text.components(separatedBy: "{listen:").dropFirst().compactMap { rest in
            rest.firstIndex(of: "}").map { String(rest[..<$0]) }
        }
    }

    /// "n1..n5" for a long list, the names themselves for a short one.
    package static func range(_ names: [String]) -> String {
        names.count > 4 ? "\(names[0])..\(names[names.count - 1])" : names.joined(separator: ", ")
    }

    private static func allowOnly(_ keys: Set<String>, in object: [String: JSON], at place: String) throws(UsageError) {
        if let unknown = object.keys.sorted().first(where: { !keys.contains($0) }) {
            throw UsageError("\(place): unknown field '\(unknown)' (allowed: \(keys.sorted().joined(separator: ", ")))")
        }
    }

    private static func integer(_ value: JSON?, _ field: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        guard let value else { return defaultValue }
        guard let number = value.intValue, range.contains(Int(number)) else {
            throw UsageError("'\(field)' must be a whole number from \(range.lowerBound) to \(range.upperBound), not \(value.serialized())")
        }
        return Int(number)
    }

    private static func string(_ value: JSON?, _ field: String) throws(UsageError) -> String? {
        guard let value else { return nil }
        guard let text = value.stringValue else { throw UsageError("\(field) must be a string") }
        return text
    }

    /// A duration string ("2s", "500ms", "1.5s", "1m"); numbers are refused as ambiguous.
    private static func duration(_ value: JSON?, _ field: String, required: Bool, in range: ClosedRange<Int>) throws(UsageError) -> Int? {
        guard let value else {
            if required { throw UsageError("'\(field)' is required: a duration such as \"2s\" or \"500ms\"") }
            return nil
        }
        guard let text = value.stringValue, let ms = Durations.parse(text) else {
            throw UsageError("'\(field)' must be a duration such as \"2s\", \"500ms\" or \"1m\", not \(value.serialized())")
        }
        guard range.contains(ms) else {
            throw UsageError("'\(field)' must be from \(Table.duration(Double(range.lowerBound))) to \(Table.duration(Double(range.upperBound))), not \"\(text)\"")
        }
        return ms
    }

    /// Whole milliseconds (a number) or a duration string.
    private static func milliseconds(_ value: JSON, _ field: String) throws(UsageError) -> Int {
        if let number = value.intValue, (0...600_000).contains(Int(number)) { return Int(number) }
        if let text = value.stringValue, let ms = Durations.parse(text), (0...600_000).contains(ms) { return ms }
        throw UsageError("'\(field)' must be milliseconds (0-600000) or a duration such as \"250ms\", not \(value.serialized())")
    }
}

// MARK: - Resolution

extension Scenario {
    /// Replaces every `random-node` / `random-agent` with a name drawn with
    /// the seed, the same for every repeat and condition so they stay
    /// comparable. A random node is never one an earlier step took down
    /// (kill or shutdown, unless started again); a random agent never one
    /// under the kill-switch.
    package func resolve(nodes: [String], agents: [String]) throws -> [ResolvedStep] {
        var rng = SeededRandom(seed: seed)
        var down: Set<String> = []
        var switchedOff: Set<String> = []
        var resolved: [ResolvedStep] = []
        func draw(_ candidates: [String], _ what: String, _ step: Step) throws -> String {
            guard !candidates.isEmpty else {
                throw Failure("timeline[\(step.index)] (\(step.action.rawValue)): no \(what) left to choose at random")
            }
            return candidates[Int(rng.next() % UInt64(candidates.count))]
        }
        for step in timeline {
            var drawn: Set<String> = []
            var target = step.target
            if target == Self.randomNode {
                target = try draw(nodes.filter { !down.contains($0) }, "node", step)
                drawn.insert(target!)
            } else if target == Self.randomAgent {
                target = try draw(agents.filter { !switchedOff.contains($0) }, "agent", step)
                drawn.insert(target!)
            }
            var targets: [String] = []
            for name in step.targets {
                if name == Self.randomAgent {
                    let chosen = try draw(agents.filter { !switchedOff.contains($0) && !targets.contains($0) }, "agent", step)
                    drawn.insert(chosen)
                    targets.append(chosen)
                } else if !targets.contains(name) {
                    targets.append(name)
                }
            }
            if let target, step.action.targetsNode, !nodes.contains(target) {
                throw Failure("timeline[\(step.index)] (\(step.action.rawValue)).target: the cluster has no node '\(target)' (it has \(nodes.joined(separator: ", ")))")
            }
            if let target, step.action.targetsAgent, !agents.contains(target) {
                throw Failure("timeline[\(step.index)] (\(step.action.rawValue)).target: the cluster has no agent '\(target)' (it has \(agents.isEmpty ? "none" : agents.joined(separator: ", ")))")
            }
            for name in targets where !agents.contains(name) {
                throw Failure("timeline[\(step.index)] (\(step.action.rawValue)).targets: the cluster has no agent '\(name)' (it has \(agents.isEmpty ? "none" : agents.joined(separator: ", ")))")
            }
            for name in step.groups.joined() where !nodes.contains(name) {
                throw Failure("timeline[\(step.index)] (\(step.action.rawValue)).groups: the cluster has no node '\(name)' (it has \(nodes.joined(separator: ", ")))")
            }
            if step.action.downsNode, let target { down.insert(target) }
            if step.action == .startNode, let target { down.remove(target) }
            if step.action == .killSwitch { switchedOff.formUnion(targets) }
            if step.action == .revive { switchedOff.subtract(targets) }
            resolved.append(ResolvedStep(step: step, target: target, targets: targets, groups: step.groups, drawn: drawn))
        }
        return resolved
    }

    /// The conditions a run goes through: those the scenario lists (else the scenario as written, "policy"), then the control.
    package var conditions: [Condition] {
        (listedConditions.isEmpty ? [Condition(name: "policy")] : listedConditions)
            + (controlPolicy.map { [Condition(name: "control", policy: $0)] } ?? [])
    }

    /// The lab as `condition` runs it: its agents replaced or added, then its policies over the lab's, then its policy over all.
    package func lab(for condition: Condition) -> Lab? {
        guard var lab else { return nil }
        for agent in condition.agents {
            if let index = lab.extraAgents.firstIndex(where: { $0.name == agent.name }) {
                lab.extraAgents[index] = agent
            } else {
                lab.extraAgents.append(agent)
            }
        }
        lab.policies.merge(condition.policies) { _, new in new }
        if let policy = condition.policy {
            lab.policy = policy
            lab.policies = [:]
            for index in lab.extraAgents.indices where lab.extraAgents[index].policy != nil || !lab.extraAgents[index].protects.isEmpty {
                lab.extraAgents[index].policy = policy
            }
        }
        for index in lab.extraAgents.indices {
            if let policy = lab.policies[lab.extraAgents[index].name] { lab.extraAgents[index].policy = policy }
        }
        return lab
    }

    /// "lab of 5 nodes (n1..n5), 2 agents per node, policy relaunch, guardianship ring"
    package var clusterDescription: String {
        switch cluster {
        case .lab(let lab):
            var text = "lab of \(lab.nodes) node\(lab.nodes == 1 ? "" : "s") (\(Self.range(lab.nodeNames)))"
            if lab.agentsPerNode > 0 {
                text += ", \(lab.agentsPerNode) agent\(lab.agentsPerNode == 1 ? "" : "s") per node (\(Self.range(lab.ringAgentNames))),"
                    + " policy \(lab.policy), guardianship \(lab.guardianship)"
                if !lab.policies.isEmpty {
                    text += " (" + lab.policies.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")"
                }
            } else {
                text += lab.extraAgents.isEmpty ? ", no agents" : ", no ring agents"
            }
            for agent in lab.extraAgents {
                text += "; \(agent.name) on \(agent.node): \(([agent.command] + agent.args).joined(separator: " "))"
                if !agent.protects.isEmpty { text += " (protects \(agent.protects.joined(separator: ",")), policy \(agent.policy ?? "none"))" }
            }
            return text
        case .existing(let addresses):
            return "existing cluster at \(addresses.joined(separator: ", ")) (faulted and healed, not started or stopped)"
        }
    }

    package var json: JSON {
        var cluster: [String: JSON]
        switch self.cluster {
        case .lab(let lab):
            cluster = ["lab": ["nodes": .int(Int64(lab.nodes)), "agents_per_node": .int(Int64(lab.agentsPerNode)),
                               "policy": .string(lab.policy), "guardianship": .string(lab.guardianship),
                               "policies": .object(lab.policies.mapValues(JSON.string)),
                               "agents": .array(lab.extraAgents.map(\.json))]]
        case .existing(let addresses):
            cluster = ["nodes": .array(addresses.map(JSON.string))]
        }
        var object: [String: JSON] = ["name": .string(name), "seed": .int(Int64(seed)), "repeats": .int(Int64(repeats)),
                                      "cluster": .object(cluster), "duration_ms": .int(Int64(durationMs)),
                                      "settle_ms": .int(Int64(settleMs))]
        if let controlPolicy { object["control"] = ["policy": .string(controlPolicy)] }
        if !listedConditions.isEmpty {
            object["conditions"] = .array(listedConditions.map { condition in
                var entry: [String: JSON] = ["name": .string(condition.name)]
                if let policy = condition.policy { entry["policy"] = .string(policy) }
                if !condition.policies.isEmpty { entry["policies"] = .object(condition.policies.mapValues(JSON.string)) }
                if !condition.agents.isEmpty { entry["agents"] = .array(condition.agents.map(\.json)) }
                if let description = condition.description { entry["description"] = .string(description) }
                return .object(entry)
            })
        }
        return .object(object)
    }
}

extension Scenario.ExtraAgent {
    package var json: JSON {
        var object: [String: JSON] = ["name": .string(name), "node": .string(node), "command": .string(command),
                                      "args": .array(args.map(JSON.string))]
        if !protects.isEmpty { object["protects"] = .array(protects.map(JSON.string)) }
        if let policy { object["policy"] = .string(policy) }
        if !env.isEmpty { object["env"] = .object(env.mapValues(JSON.string)) }
        return .object(object)
    }
}
