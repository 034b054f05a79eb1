#if canImport(Glibc)
import Glibc
#endif
import KithCore
import KithUV

/// Everything a daemon needs to start, from flags and an optional JSON file.
///
/// Flags win over the file. Parsing is strict (unknown keys and flags are
/// errors) because a typo in a chaos lab silently falls back to defaults
/// otherwise; `kithd` turns a `ConfigError` into exit code 2.
public struct NodeConfig: Sendable, Equatable {
    public var name: String = ""
    public var listen: String = ""
    /// The gossip address other nodes use to reach this one; defaults to `listen`.
    public var advertise: String = ""
    public var control: String = ""
    public var join: [String] = []
    public var dataDir: String = ""
    public var capacity: UInt32 = 8
    public var tags: [String: String] = [:]
    public var logLevel: LogLevel = .info
    public var membership = MembershipSettings.lan
    /// `any` relaunches on whichever side of a partition sees the loss;
    /// `majority` only on a side that sees most of the last known members.
    public var relaunchQuorum: RelaunchQuorum = .any
    /// Agents this node starts once it has joined (unless they already run elsewhere).
    public var agents: [AgentSpec] = []
    /// Hex Ed25519 public keys of the operators whose signed commands this node obeys.
    public var operatorKeys: [String] = []
    /// Cluster keys as `ID:HEX` (the first is the primary) authenticating node-to-node frames.
    public var clusterKeys: [String] = []
    /// How agents are fenced when kithd runs as root: their uid range (`agent_uid_base`, `agent_uid_count`).
    public var containment = ContainmentSettings()
    /// The cluster's name: signed operator requests must name it (`cluster`), so a
    /// request signed for one cluster is refused by another. Empty by default.
    public var cluster: String = ""
    /// Gossip on a non-loopback address without a cluster key: refused unless set.
    public var insecure = false
    /// The operator's certificate binding this node's name to its key (`kithctl node certify`);
    /// with one, members without a valid certificate are refused.
    public var nodeCert: String = ""
    /// A file of cluster keys, one `ID:HEX` a line, read into `clusterKeys` when the config is
    /// assembled: how keys reach kithd without showing in its command line.
    public var clusterKeyFile: String = ""
    /// `HOST:PORT` of the read-only HTTP endpoint (metrics, probes, JSON API); empty: none.
    public var http: String = ""
    /// A file holding the bearer token HTTP requests must carry (probes excepted); empty: no token.
    public var httpTokenFile: String = ""
    /// Where kithd writes its log lines (appended; reopened on SIGHUP, for
    /// logrotate); empty: standard error.
    public var logFile: String = ""
    /// An agent's log (`DATA/agents/NAME.log`) past this many bytes is moved
    /// to `NAME.log.1` (replacing the previous one) and started afresh.
    public var agentLogBytesMax: Int = 8 << 20
    /// The HTTP address members tell each other: `http`, with a wildcard host replaced by the advertised gossip host.
    public var advertisedHTTP: String {
        guard let http = parseHostPort(http), http.host == "0.0.0.0" || http.host == "::",
              let gossip = parseHostPort(advertisedEndpoint) else { return self.http }
        let host = gossip.host.contains(":") ? "[\(gossip.host)]" : gossip.host
        return "\(host):\(http.port)"
    }

    public init() {}

    /// Where logs, agent output and the agent socket live: `--data-dir`, or
    /// `defaultDataDirectory` when none is given.
    public var effectiveDataDir: String { dataDir.isEmpty ? NodeConfig.defaultDataDirectory(name: name) : dataDir }

    /// The agents' own directory beside the data dir (`DATA-agents`, 0711):
    /// their socket and working directories, since agents running under
    /// their own uids cannot enter the daemon's 0700 data dir.
    public var agentDirectory: String { NodeConfig.agentDirectory(dataDir: effectiveDataDir) }

    public static func agentDirectory(dataDir: String) -> String { dataDir + "-agents" }

    /// The agents' Unix socket; Unix socket paths are limited to 107 bytes,
    /// so a deep data dir falls back to a short path under /tmp, as does one
    /// that agents under their own uids could not reach (a 0700 lab directory).
    public var agentSocketPath: String {
        let path = agentDirectory + "/agents.sock"
        guard path.utf8.count >= 100 || (geteuid() == 0 && !NodeConfig.othersCanEnter(effectiveDataDir)) else { return path }
        let digest = path.utf8.reduce(UInt64(0xCBF2_9CE4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
        return "/tmp/kith-\(String(digest, radix: 36)).sock"
    }

    /// Whether every directory above `path` lets other users pass (o+x).
    static func othersCanEnter(_ path: String) -> Bool {
        var directory = path
        while let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            directory = String(directory[..<slash])
            var info = stat()
            guard stat(directory, &info) == 0 else { return true }  // not made yet: made 0755 by the daemon
            if info.st_mode & S_IXOTH == 0 { return false }
        }
        return true
    }

    /// The gossip address peers should dial.
    public var advertisedEndpoint: String { advertise.isEmpty ? listen : advertise }

    /// The control address other nodes tell kithctl: `--control`, or with a
    /// wildcard host (`0.0.0.0`, `::`) the advertised host on the control port.
    public var advertisedControl: String {
        guard let control = parseHostPort(control), control.host == "0.0.0.0" || control.host == "::",
              let gossip = parseHostPort(advertisedEndpoint) else { return self.control }
        let host = gossip.host.contains(":") ? "[\(gossip.host)]" : gossip.host
        return "\(host):\(control.port)"
    }
}

/// A readable reason a configuration was refused.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension NodeConfig {
    /// Flags take the form of `kithd --help`; `readFile` loads `--config`.
    public static func parse(arguments: [String], readFile: (String) throws -> String) throws(ConfigError) -> NodeConfig {
        try parse(arguments: arguments, environment: nil, readFile: readFile)
    }

    /// As `parse(arguments:readFile:)`, with the keys of `environment` (see `apply(environment:)`) between
    /// the file and the flags when it is given: file < environment < flags.
    public static func parse(
        arguments: [String], environment: [String: String]?, readFile: (String) throws -> String
    ) throws(ConfigError) -> NodeConfig {
        let (config, problems) = check(arguments: arguments, environment: environment, readFile: readFile)
        if let first = problems.first { throw ConfigError(first) }
        return config
    }

    /// Assembles the configuration exactly as `parse` does, but goes on past a problem: every flag, file
    /// key and variable is tried, then the whole is validated, and every problem is returned (`kithd --check`).
    public static func check(
        arguments: [String], environment: [String: String]?, readFile: (String) throws -> String
    ) -> (config: NodeConfig, problems: [String]) {
        var problems: [String] = []
        var flags: [(String, String)] = []
        var configPath: String?
        var index = 0
        while index < arguments.count {
            let flag = arguments[index]
            if NodeConfig.switchFlags.contains(flag) {
                flags.append((flag, "true"))
                index += 1
                continue
            }
            guard flag.hasPrefix("--"), NodeConfig.flagKeys[flag] != nil || flag == "--config" else {
                problems.append("unknown flag '\(flag)' (see kithd --help)")
                index += 1
                continue
            }
            guard index + 1 < arguments.count else {
                problems.append("flag \(flag) needs a value")
                break
            }
            let value = arguments[index + 1]
            if flag == "--config" { configPath = value } else { flags.append((flag, value)) }
            index += 2
        }
        var config = NodeConfig()
        if let configPath {
            do throws(ConfigError) {
                let text: String
                do { text = try readFile(configPath) } catch { throw ConfigError("cannot read config file \(configPath): \(error)") }
                let json: JSON
                do { json = try JSON.parse(text) } catch { throw ConfigError("config file \(configPath): \(error)") }
                guard let object = json.objectValue else { throw ConfigError("config file must hold a JSON object") }
                for (key, value) in object.sorted(by: { $0.key < $1.key }) {
                    do throws(ConfigError) { try config.apply(file: .object([key: value])) } catch { problems.append(error.message) }
                }
            } catch {
                problems.append(error.message)
            }
        }
        if let environment { problems += config.apply(environment: environment, readFile: readFile) }
        for (flag, value) in flags {
            do throws(ConfigError) {
                try config.apply(key: NodeConfig.flagKeys[flag]!, value: .string(value), fromFlag: true)
            } catch {
                problems.append(error.message)
            }
        }
        problems += config.loadClusterKeyFile(readFile: readFile)
        return (config, problems + config.problems())
    }

    static let flagKeys: [String: String] = [
        "--name": "name", "--listen": "listen", "--advertise": "advertise", "--control": "control",
        "--join": "join", "--data-dir": "data_dir", "--capacity": "capacity", "--tag": "tags",
        "--log-level": "log_level", "--relaunch-quorum": "relaunch_quorum",
        "--operator-key": "operator_keys", "--cluster-key-file": "cluster_key_file",
        "--cluster": "cluster", "--insecure": "insecure", "--node-cert": "node_cert",
        "--http": "http", "--http-token-file": "http_token_file", "--log-file": "log_file",
    ]

    /// Flags that take no value (they set their key to true).
    static let switchFlags: Set<String> = ["--insecure"]

    mutating func apply(file json: JSON) throws(ConfigError) {
        guard let object = json.objectValue else { throw ConfigError("config file must hold a JSON object") }
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            if key == "membership" {
                try membership.apply(json: value)
            } else {
                try apply(key: key, value: value, fromFlag: false)
            }
        }
    }

    mutating func apply(key: String, value: JSON, fromFlag: Bool) throws(ConfigError) {
        switch key {
        case "name": name = try value.requireString(key)
        case "listen": listen = try value.requireString(key)
        case "advertise": advertise = try value.requireString(key)
        case "control": control = try value.requireString(key)
        case "data_dir": dataDir = try value.requireString(key)
        case "join":
            join = try value.requireStringList(key)
        case "capacity":
            let n = try value.requireInt(key, fromFlag: fromFlag)
            guard (0...100_000).contains(n) else { throw ConfigError("capacity must be 0...100000, got \(n)") }
            capacity = UInt32(n)
        case "tags":
            if fromFlag {
                let text = try value.requireString(key)
                guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
                    throw ConfigError("--tag takes KEY=VALUE, got '\(text)'")
                }
                tags[String(text[..<eq])] = String(text[text.index(after: eq)...])
            } else {
                guard let object = value.objectValue else { throw ConfigError("tags must be an object of strings") }
                for (k, v) in object {
                    guard let s = v.stringValue else { throw ConfigError("tag '\(k)' must be a string") }
                    tags[k] = s
                }
            }
        case "relaunch_quorum":
            let text = try value.requireString(key)
            guard let quorum = RelaunchQuorum(rawValue: text) else {
                throw ConfigError("relaunch_quorum must be \"any\" or \"majority\"; got '\(text)'")
            }
            relaunchQuorum = quorum
        case "agents":
            guard !fromFlag, let list = value.arrayValue else { throw ConfigError("agents must be an array of agent specs") }
            agents = try list.map { item throws(ConfigError) in try AgentSpec(config: item) }
        case "operator_keys":
            let keys = try value.requireStringList(key)
            for hex in keys where hex.utf8.count != 64 || !hex.allSatisfy(\.isHexDigit) {
                throw ConfigError("operator keys must be 64 hex digits (kithctl keygen prints one), got '\(hex)'")
            }
            operatorKeys += keys
        case "cluster_keys":
            clusterKeys = try value.requireStringList(key)
            _ = try Keyring.parse(clusterKeys)
            clusterKeyFile = ""  // the later source wins (file < environment < flags)
        case "cluster_key_file":
            clusterKeyFile = try value.requireString(key)
            clusterKeys = []
        case "agent_uid_base", "agent_uid_count":
            try containment.apply(key: key, value: value, fromFlag: fromFlag)
        case "cluster":
            cluster = try value.requireString(key)
            guard cluster.utf8.count <= 64, !cluster.contains(where: { $0.isWhitespace || $0.isNewline }) else {
                throw ConfigError("cluster must be a name of at most 64 characters without spaces")
            }
        case "node_cert":
            nodeCert = try value.requireString(key)
        case "insecure":
            if let flag = value.boolValue { insecure = flag } else {
                guard let text = value.stringValue, text == "true" || text == "false" else {
                    throw ConfigError("insecure must be true or false")
                }
                insecure = text == "true"
            }
        case "log_level":
            let text = try value.requireString(key)
            guard let level = LogLevel(rawValue: text) else {
                throw ConfigError("log_level must be one of debug, info, warn, error; got '\(text)'")
            }
            logLevel = level
        case "http": http = try value.requireString(key)
        case "http_token_file": httpTokenFile = try value.requireString(key)
        case "log_file": logFile = try value.requireString(key)
        case "agent_log_bytes_max":
            let n = try value.requireInt(key, fromFlag: fromFlag)
            guard (4096...(1 << 40)).contains(n) else { throw ConfigError("agent_log_bytes_max must be 4096...2^40, got \(n)") }
            agentLogBytesMax = Int(n)
        default:
            throw ConfigError("unknown config key '\(key)'")
        }
    }

    /// Checks the whole configuration and names the first problem.
    public func validate() throws(ConfigError) {
        if let first = problems().first { throw ConfigError(first) }
    }

    /// Every problem with the configuration as a whole, in a fixed order (empty when it is usable).
    public func problems() -> [String] {
        var problems: [String] = []
        if name.isEmpty {
            problems.append("--name is required")
        } else if name.utf8.count > 64 || name.contains(where: { $0 == "/" || $0 == " " || $0.isNewline }) {
            problems.append("name must be 1-64 characters without spaces or '/': '\(name)'")
        }
        for (label, address) in [("listen", listen), ("control", control)] {
            if address.isEmpty {
                problems.append("--\(label) is required")
            } else if parseHostPort(address) == nil {
                problems.append("\(label) must be HOST:PORT, got '\(address)'")
            }
        }
        if !advertise.isEmpty, parseHostPort(advertise) == nil {
            problems.append("advertise must be HOST:PORT, got '\(advertise)'")
        }
        if advertise.isEmpty, let listen = parseHostPort(listen), listen.host == "0.0.0.0" || listen.host == "::" {
            problems.append("listening on \(listen.host) needs --advertise HOST:PORT so peers know where to dial")
        }
        for seed in join where parseHostPort(seed) == nil {
            problems.append("join addresses must be HOST:PORT, got '\(seed)'")
        }
        if clusterKeys.isEmpty, !insecure,
           let exposed = [listen, advertisedEndpoint].compactMap(parseHostPort).first(where: { !NodeConfig.isLoopback($0.host) }) {
            problems.append("gossip on \(exposed.host) needs a cluster key (--cluster-key-file), or --insecure to run "
                            + "unauthenticated: anyone who reaches the port could speak for a node")
        }
        if !http.isEmpty, parseHostPort(http) == nil {
            problems.append("http must be HOST:PORT, got '\(http)'")
        }
        if !httpTokenFile.isEmpty, http.isEmpty {
            problems.append("http_token_file needs --http HOST:PORT")
        }
        problems += membership.validate().map { "membership: \($0)" }
        if let problem = containment.validate() { problems.append(problem) }
        var names: Set<String> = []
        for spec in agents {
            problems += spec.validate()
            if !names.insert(spec.name).inserted { problems.append("agent \(spec.name) is listed twice") }
        }
        return problems
    }
}

extension NodeConfig {
    /// Whether gossip on `host` stays on this machine.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

extension JSON {
    func requireString(_ key: String) throws(ConfigError) -> String {
        guard let s = stringValue else { throw ConfigError("\(key) must be a string") }
        return s
    }

    /// An array of strings, or one comma-separated string (as a flag gives it).
    func requireStringList(_ key: String) throws(ConfigError) -> [String] {
        guard let list = arrayValue else { return try requireString(key).split(separator: ",").map { String($0) } }
        return try list.map { item throws(ConfigError) in try item.requireString(key) }
    }

    func requireInt(_ key: String, fromFlag: Bool) throws(ConfigError) -> Int64 {
        if fromFlag, let s = stringValue, let n = Int64(s) { return n }
        guard let n = intValue else { throw ConfigError("\(key) must be an integer") }
        return n
    }
}

/// Where agents' uids come from when kithd runs as root. No passwd entries
/// are needed: a uid is only a number to the kernel. The default range is far
/// above login users and the usual subuid ranges of user namespaces.
public struct ContainmentSettings: Sendable, Equatable {
    /// The first uid (and gid) given to an agent.
    public var agentUIDBase: UInt32 = 1_000_000_000
    /// How many uids the range holds: at most this many agents run here at once.
    public var agentUIDCount: UInt32 = 65_536

    public init() {}

    mutating func apply(key: String, value: JSON, fromFlag: Bool) throws(ConfigError) {
        let n = try value.requireInt(key, fromFlag: fromFlag)
        guard (1...Int64(UInt32.max - 1)).contains(n) else { throw ConfigError("\(key) must be 1...\(UInt32.max - 1), got \(n)") }
        if key == "agent_uid_base" { agentUIDBase = UInt32(n) } else { agentUIDCount = UInt32(n) }
    }

    /// A readable problem, nil when the range is usable.
    func validate() -> String? {
        if agentUIDBase < 1000 { return "agent_uid_base must be at least 1000 (system and login uids lie below), got \(agentUIDBase)" }
        if UInt64(agentUIDBase) + UInt64(agentUIDCount) > UInt64(UInt32.max) - 1 {
            return "agent_uid_base + agent_uid_count must stay below \(UInt32.max)"
        }
        return nil
    }
}

// MARK: - Secrets and the default data directory

extension NodeConfig {
    /// Reads `clusterKeyFile` into `clusterKeys`: one `ID:HEX` a line, blank lines and `#` comments
    /// skipped. Returns the problems, naming the file but never its content.
    mutating func loadClusterKeyFile(readFile: (String) throws -> String) -> [String] {
        guard !clusterKeyFile.isEmpty else { return [] }
        let text: String
        do { text = try readFile(clusterKeyFile) } catch { return ["cluster_key_file: cannot read \(clusterKeyFile): \(error)"] }
        let entries = NodeConfig.listedLines(text)
        guard !entries.isEmpty else { return ["cluster_key_file \(clusterKeyFile) holds no keys (one ID:HEX a line)"] }
        do throws(ConfigError) {
            _ = try Keyring.parse(entries)
        } catch {
            return ["cluster_key_file \(clusterKeyFile): \(error.message)"]
        }
        clusterKeys = entries
        return []
    }

    /// The non-blank lines of a list file that are not `#` comments, trimmed.
    static func listedLines(_ text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).map { String($0).trimmingSpaces }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    /// The data directory when none is configured, never under /tmp (where anyone could
    /// create it first): `/var/lib/kith/NAME` for root, else `$XDG_STATE_HOME/kith/NAME`,
    /// else `~/.local/state/kith/NAME`.
    public static func defaultDataDirectory(name: String, effectiveUID: UInt32, environment: [String: String],
                                            passwordHome: String?) -> String {
        if effectiveUID == 0 { return "/var/lib/kith/\(name)" }
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return "\(state)/kith/\(name)" }
        let home = environment["HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? passwordHome ?? "/var/lib/kith"
        return "\(home == "/" ? "" : home)/.local/state/kith/\(name)"
    }

    /// `defaultDataDirectory` for this process.
    static func defaultDataDirectory(name: String) -> String {
        var environment: [String: String] = [:]
        for variable in ["XDG_STATE_HOME", "HOME"] {
            if let value = getenv(variable) { environment[variable] = String(cString: value) }
        }
        let uid = geteuid()
        let passwordHome = getpwuid(uid).flatMap { $0.pointee.pw_dir }.map { String(cString: $0) }
        return defaultDataDirectory(name: name, effectiveUID: uid, environment: environment, passwordHome: passwordHome)
    }
}
