import KithCore

/// Agent specs as they appear in config files and control requests, and
/// records as `kithctl agents --json` prints them.
extension AgentSpec {
    /// Keys: `name`, `command`, `args`, `env`, `working_dir`, `protects`,
    /// `policy`, `max_restarts`, `restart_window_ms`, `max_handoffs`, and the
    /// local resource limits `max_processes`, `memory_mb` (or `memory_bytes`),
    /// `max_open_files` (0 = unlimited for the first two), `network`
    /// (`"host"`, or `"none"` for loopback only).
    public init(config json: JSON) throws(ConfigError) {
        guard let object = json.objectValue else { throw ConfigError("an agent spec must be an object") }
        let known: Set<String> = ["name", "command", "args", "env", "working_dir", "protects", "policy",
                                  "max_restarts", "restart_window_ms", "max_handoffs",
                                  "max_processes", "memory_mb", "memory_bytes", "max_open_files", "network"]
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
        try parseResources(object, name: name)
        if let problem = validate().first { throw ConfigError(problem) }
    }

    private mutating func parseResources(_ object: [String: JSON], name: String) throws(ConfigError) {
        if let n = object["max_processes"] {
            guard let value = n.intValue, (0...100_000).contains(value) else {
                throw ConfigError("agent \(name): max_processes must be 0...100000 (0 = unlimited)")
            }
            resources.processesMax = Int(value)
        }
        if object["memory_mb"] != nil && object["memory_bytes"] != nil {
            throw ConfigError("agent \(name): give memory_mb or memory_bytes, not both")
        }
        if let n = object["memory_mb"] {
            guard let value = n.intValue, (0...(1 << 30)).contains(value) else {
                throw ConfigError("agent \(name): memory_mb must be 0...\(1 << 30) (0 = unlimited)")
            }
            resources.memoryBytesMax = value << 20
        }
        if let n = object["memory_bytes"] {
            guard let value = n.intValue, (0...(1 << 50)).contains(value) else {
                throw ConfigError("agent \(name): memory_bytes must be 0...\(1 << 50) (0 = unlimited)")
            }
            resources.memoryBytesMax = value
        }
        if let n = object["max_open_files"] {
            guard let value = n.intValue, (16...1_048_576).contains(value) else {
                throw ConfigError("agent \(name): max_open_files must be 16...1048576")
            }
            resources.openFilesMax = Int(value)
        }
        if let network = object["network"] {
            guard let text = network.stringValue, text == "host" || text == "none" else {
                throw ConfigError("agent \(name): network must be \"host\" or \"none\"")
            }
            resources.hasNetwork = text == "host"
        }
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
            "max_processes": .int(Int64(resources.processesMax)), "memory_bytes": .int(resources.memoryBytesMax),
            "max_open_files": .int(Int64(resources.openFilesMax)), "network": .string(resources.hasNetwork ? "host" : "none"),
        ]
    }
}
