import Foundation
import KithCore
import KithLab
import KithReport

/// `agents`, `agent start|stop` and `send`: the cluster's agents through one daemon's control port.
enum AgentCommands {
    /// How long `agent start --wait` waits for the agent to say hello.
    static let waitTimeout = 15.0

    /// `agents [--json]`: the cluster-wide registry as the node sees it.
    static func list(_ arguments: [String], node: String) throws {
        let options = try Arguments(arguments, switches: ["--json"])
        try options.expectPositionals([], command: "agents")
        let agents = try AgentViews.records(at: node)
        if options.has("--json") {
            print(JSON.array(agents).serialized(pretty: true))
            return
        }
        print(AgentViews.table(agents), terminator: "")
    }

    /// `agent start|stop ...`
    static func agent(_ arguments: [String], node: String, key: OperatorKey) throws {
        guard let action = arguments.first else { throw UsageError("'agent' needs an action: start or stop") }
        let rest = Array(arguments.dropFirst())
        switch action {
        case "start": try start(rest, node: node, key: key)
        case "stop":
            let options = try Arguments(rest)
            try options.expectPositionals(["NAME"], command: "agent stop")
            let name = options.positionals[0]
            _ = try key.client(address: node).request(["cmd": "agent_stop", "name": .string(name)])
            print("Stopped \(name).")
        default: throw UsageError("unknown agent action '\(action)' (start or stop)")
        }
    }

    /// `agent start NAME [options] -- COMMAND ARGS...`
    private static func start(_ arguments: [String], node: String, key: OperatorKey) throws {
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
            guard AgentRing.policies.contains(policy) else { throw UsageError("--policy must be none, relaunch or relaunch-and-mask, not '\(policy)'") }
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
        let reply = try key.client(address: node).request(.object(request))
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
    static func send(_ arguments: [String], node: String, key: OperatorKey) throws {
        let separator = arguments.firstIndex(of: "--") ?? arguments.endIndex
        let options = try Arguments(Array(arguments[..<separator]))
        let words = options.positionals.dropFirst() + arguments[separator...].dropFirst()
        guard let agent = options.positionals.first, !words.isEmpty else { throw UsageError("'send' takes AGENT TEXT") }
        let text = words.joined(separator: " ")
        _ = try key.client(address: node).request(["cmd": "send", "to": .string(agent), "text": .string(text)])
        print("Sent to \(agent).")
    }
}
