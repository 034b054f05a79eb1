import KithCore

/// Agent specs as they appear in config files and control requests, and
/// records as `kithctl agents --json` prints them.
extension AgentSpec {
    /// Keys: `name`, `command`, `args`, `env`, `working_dir`, `protects`,
    /// `policy`, `max_restarts`, `restart_window_ms`, `max_handoffs`.
    public init(config json: JSON) throws(ConfigError) {
        guard let object = json.objectValue else { throw ConfigError("an agent spec must be an object") }
        let known: Set<String> = ["name", "command", "args", "env", "working_dir", "protects", "policy",
                                  "max_restarts", "restart_window_ms", "max_handoffs"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigError("unknown agent spec key '\(unknown)'")
        }
        guard let name = object["name"]?.stringValue else { throw ConfigError("agent spec needs a string \"name\"") }
        guard let command = object["command"]?.stringValue else { throw ConfigError("agent \(name) needs a string \"command\"") }
        self.init(name: name, command: command)
        args = try Self.strings(object["args"], "agent \(name): args")
        protects = try Self.strings(object["protects"], "agent \(name): protects")
        if let env = object["env"] {
            guard let pairs = env.objectValue else { throw ConfigError("agent \(name): env must be an object of strings") }
            for (key, value) in pairs {
                guard let text = value.stringValue else { throw ConfigError("agent \(name): env \(key) must be a string") }
                self.env[key] = text
            }
        }
        if let dir = object["working_dir"] {
            guard let text = dir.stringValue else { throw ConfigError("agent \(name): working_dir must be a string") }
            workingDirectory = text
        }
        if let policy = object["policy"] {
            guard let text = policy.stringValue, let value = PreservationPolicy(rawValue: text) else {
                throw ConfigError("agent \(name): policy must be none, relaunch or relaunch-and-mask")
            }
            self.policy = value
        }
        if let n = object["max_restarts"] {
            guard let value = n.intValue, (0...1000).contains(value) else { throw ConfigError("agent \(name): max_restarts must be 0...1000") }
            limits.maxRestarts = Int(value)
        }
        if let n = object["restart_window_ms"] {
            guard let value = n.intValue, value > 0, value <= 86_400_000 else {
                throw ConfigError("agent \(name): restart_window_ms must be a positive number of milliseconds")
            }
            limits.window = .milliseconds(value)
        }
        if let n = object["max_handoffs"] {
            guard let value = n.intValue, (0...1000).contains(value) else { throw ConfigError("agent \(name): max_handoffs must be 0...1000") }
            limits.maxHandoffs = Int(value)
        }
        if let problem = validate().first { throw ConfigError(problem) }
    }

    private static func strings(_ json: JSON?, _ label: String) throws(ConfigError) -> [String] {
        guard let json else { return [] }
        guard let list = json.arrayValue else { throw ConfigError("\(label) must be an array of strings") }
        var out: [String] = []
        for item in list {
            guard let text = item.stringValue else { throw ConfigError("\(label) must be an array of strings") }
            out.append(text)
        }
        return out
    }

    var json: JSON {
        [
            "name": .string(name), "command": .string(command), "args": .array(args.map(JSON.string)),
            "env": .object(env.mapValues(JSON.string)), "working_dir": .string(workingDirectory),
            "protects": .array(protects.map(JSON.string)), "policy": .string(policy.rawValue),
            "max_restarts": .int(Int64(limits.maxRestarts)),
            "restart_window_ms": .int(limits.window.nanoseconds / 1_000_000),
            "max_handoffs": .int(Int64(limits.maxHandoffs)),
        ]
    }
}
