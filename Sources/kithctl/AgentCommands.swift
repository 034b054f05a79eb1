import Foundation
import KithCore
import KithNode

/// `agents`, `agent start|stop` and `send`: the cluster's agents through one daemon's control port.
enum AgentCommands {
    /// How long `agent start --wait` waits for the agent to say hello.
    static let waitTimeout = 15.0

    static let policies = ["none", "relaunch", "relaunch-and-mask"]

    /// `agents [--json]`: the cluster-wide registry as the node sees it.
    static func list(_ arguments: [String], node: String) throws {
        let options = try Arguments(arguments, switches: ["--json"])
        try options.expectPositionals([], command: "agents")
        let agents = try AgentViews.records(at: node)
        if options.has("--json") {
            print(JSON.array(agents).serialized(pretty: true))
            return
        }
        guard !agents.isEmpty else {
            print("No agents.")
            return
        }
        print(Table.render(header: ["NAME", "NODE", "PID", "GEN", "STATE", "GUARDIANS", "RESTARTS", "REASON"],
                           rows: agents.map(row)), terminator: "")
    }

    private static func row(_ agent: JSON) -> [String] {
        let pid = agent["pid"]?.intValue ?? 0
        let guardians = (agent["guardians"]?.arrayValue ?? []).compactMap(\.stringValue)
        return [Table.cell(agent["name"]), Table.cell(agent["node"]), pid > 0 ? String(pid) : "-",
                Table.cell(agent["generation"]), Table.cell(agent["state"]),
                guardians.isEmpty ? "-" : guardians.joined(separator: ","), Table.cell(agent["restarts"]),
                agent["reason"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "-"]
    }

    /// `agent start|stop ...`
    static func agent(_ arguments: [String], node: String) throws {
        guard let action = arguments.first else { throw UsageError("'agent' needs an action: start or stop") }
        let rest = Array(arguments.dropFirst())
        switch action {
        case "start": try start(rest, node: node)
        case "stop":
            let options = try Arguments(rest)
            try options.expectPositionals(["NAME"], command: "agent stop")
            let name = options.positionals[0]
            _ = try Operator.client(address: node).request(["cmd": "agent_stop", "name": .string(name)])
            print("Stopped \(name).")
        default: throw UsageError("unknown agent action '\(action)' (start or stop)")
        }
    }

    /// `agent start NAME [options] -- COMMAND ARGS...`
    private static func start(_ arguments: [String], node: String) throws {
        guard let separator = arguments.firstIndex(of: "--") else {
            throw UsageError("'agent start' needs the agent's command after '--', e.g. agent start a1 -- kith-agent --policy relaunch")
        }
        let command = Array(arguments[(separator + 1)...])
        let options = try Arguments(Array(arguments[..<separator]),
                                    options: ["--on", "--protects", "--policy", "--max-restarts", "--restart-window-ms",
                                              "--max-handoffs", "--env", "--working-dir", "--timeout"],
                                    switches: ["--wait"])
        try options.expectPositionals(["NAME"], command: "agent start")
        guard let program = command.first, !program.isEmpty else { throw UsageError("'agent start' needs a command after '--'") }
        let name = options.positionals[0]

        var spec: [String: JSON] = [
            "name": .string(name),
            "command": .string(try Executables.resolveCommand(program)),
            "args": .array(command.dropFirst().map(JSON.string)),
        ]
        if let protects = options.value("--protects") {
            spec["protects"] = .array(protects.split(separator: ",").map { .string(String($0)) })
        }
        if let policy = options.value("--policy") {
            guard policies.contains(policy) else { throw UsageError("--policy must be none, relaunch or relaunch-and-mask, not '\(policy)'") }
            spec["policy"] = .string(policy)
        }
        if options.value("--max-restarts") != nil {
            spec["max_restarts"] = .int(Int64(try options.integer("--max-restarts", default: 3, in: 0...1000)))
        }
        if options.value("--restart-window-ms") != nil {
            spec["restart_window_ms"] = .int(Int64(try options.integer("--restart-window-ms", default: 30_000, in: 1...86_400_000)))
        }
        if options.value("--max-handoffs") != nil {
            spec["max_handoffs"] = .int(Int64(try options.integer("--max-handoffs", default: 3, in: 0...1000)))
        }
        var environment: [String: JSON] = [:]
        for pair in options.all("--env") {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw UsageError("--env takes KEY=VALUE, not '\(pair)'")
            }
            environment[String(pair[..<equals])] = .string(String(pair[pair.index(after: equals)...]))
        }
        if !environment.isEmpty { spec["env"] = .object(environment) }
        if let directory = options.value("--working-dir") { spec["working_dir"] = .string(LabRecord.absolute(directory)) }
        let timeout = try options.integer("--timeout", default: Int(waitTimeout), in: 1...3600)

        var request: [String: JSON] = ["cmd": "agent_start", "spec": .object(spec)]
        if let on = options.value("--on") { request["on"] = .string(on) }
        let reply = try Operator.client(address: node).request(.object(request))
        let agent = reply["agent"] ?? .null
        let host = Table.cell(agent["node"])
        guard options.has("--wait") else {
            print("Started \(name) generation \(Table.cell(agent["generation"])) on \(host) (\(Table.cell(agent["state"]))).")
            return
        }
        Interrupt.install()
        let running: JSON
        do {
            running = try AgentViews.waitRunning([name], at: node, timeout: Double(timeout))[name] ?? agent
        } catch let failure as Failure where failure.description.hasPrefix("not every agent") {
            let now = AgentViews.byName(at: node)?[name]
            throw Failure("\(name) is not running after \(timeout) s: still \(Table.cell(now?["state"])) on \(Table.cell(now?["node"]))."
                          + " An agent runs once it says hello on its node's agent socket; its output is in"
                          + " DATA_DIR/agents/\(name).log on \(Table.cell(now?["node"] ?? agent["node"])).")
        }
        print("\(name) is running on \(Table.cell(running["node"])) (pid \(Table.cell(running["pid"])), generation \(Table.cell(running["generation"]))).")
    }

    /// `send AGENT TEXT...`: the words joined by spaces (after a "--", taken as
    /// they are, so a text may start with '-'), delivered as
    /// `{"event":"message","from":"operator","payload":TEXT}`.
    static func send(_ arguments: [String], node: String) throws {
        let separator = arguments.firstIndex(of: "--") ?? arguments.endIndex
        let options = try Arguments(Array(arguments[..<separator]))
        let words = options.positionals.dropFirst() + arguments[separator...].dropFirst()
        guard let agent = options.positionals.first, !words.isEmpty else { throw UsageError("'send' takes AGENT TEXT") }
        let text = words.joined(separator: " ")
        _ = try Operator.client(address: node).request(["cmd": "send", "to": .string(agent), "text": .string(text)])
        print("Sent to \(agent).")
    }
}

/// The agent registry, read through a daemon's control port.
enum AgentViews {
    /// Every agent record the node at `control` holds, sorted by name.
    static func records(at control: String, timeoutMilliseconds: Int = 2000) throws -> [JSON] {
        let reply = try ControlClient(address: control, timeoutMilliseconds: timeoutMilliseconds).request(["cmd": "agents"])
        guard let agents = reply["agents"]?.arrayValue else { throw Failure("node at \(control) sent no agents list") }
        return agents.sorted { ($0["name"]?.stringValue ?? "") < ($1["name"]?.stringValue ?? "") }
    }

    /// Name → record at `control`; nil if the node did not answer.
    static func byName(at control: String, timeoutMilliseconds: Int = 1000) -> [String: JSON]? {
        guard let agents = try? records(at: control, timeoutMilliseconds: timeoutMilliseconds) else { return nil }
        var byName: [String: JSON] = [:]
        for agent in agents { if let name = agent["name"]?.stringValue { byName[name] = agent } }
        return byName
    }

    /// Waits until every agent in `names` is running as `control` sees it;
    /// fails at once if one is failed or stopped, or after `timeout` seconds.
    static func waitRunning(_ names: Set<String>, at control: String, timeout: Double,
                            check: () throws -> Void = {}) throws -> [String: JSON] {
        var last: [String: JSON] = [:]
        return try Waiting.poll(every: 20, timeout: timeout, "not every agent was running within \(Int(timeout)) s: "
                                + names.sorted().filter { last[$0]?["state"]?.stringValue != "running" }.map {
                                    "\($0) \(last[$0].map { "\(Table.cell($0["state"])) on \(Table.cell($0["node"]))" } ?? "unknown")"
                                }.joined(separator: ", ")) {
            try check()
            guard let agents = byName(at: control) else { return nil }
            last = agents
            for name in names {
                if let state = agents[name]?["state"]?.stringValue, state == "failed" || state == "stopped" {
                    throw Failure("agent \(name) is \(state): \(Table.cell(agents[name]?["reason"]))")
                }
            }
            return names.allSatisfy({ agents[$0]?["state"]?.stringValue == "running" }) ? agents : nil
        }
    }
}
