/// An operator command, parsed from its control request. Parsing never
/// fails: a malformed request becomes `invalid`, so the node still records
/// that the (signed) command arrived before it refuses it.
public enum OperatorCommand: Hashable, Sendable {
    case agentStart(AgentSpec, on: String?)
    case agentStop(String)
    case agentKill(String)
    case send(to: String, text: String)
    case killSwitch(agents: [String], epoch: UInt64, reason: String)
    /// `placer`: the one node that starts the revived agents (nil: every node that takes the revive,
    /// as before). Nodes whose views differ would each pick another host for the fresh start.
    case revive(agents: [String], epoch: UInt64, placer: String?)
    case quarantine(agents: [String], epoch: UInt64, reason: String)
    case release(agents: [String], epoch: UInt64)
    case fault(FaultRule)
    case heal, halt, resume
    case shutdownNode, killNode
    case pauseNode(Duration)
    /// `keys_install`, `keys_use`, `keys_remove`: the shell's keyring, passed through.
    case keyring(cmd: String, request: JSON)
    case invalid(cmd: String, error: String)

    /// The longest kill-switch or quarantine reason kept: the record's reason ("kill-switch at
    /// epoch E: " and this) must fit the wire's 255-byte strings.
    public static let reasonBytesMax = 200
    /// The longest a `pause_node` may freeze a daemon.
    public static let pauseMsMax: Int64 = 3_600_000

    /// Parses `{"cmd": ..., ...}`; `spec` reads an agent spec in the daemon's config format.
    public static func parse(_ cmd: String, _ request: JSON,
                             spec: (JSON) -> Result<AgentSpec, AgentError>) -> OperatorCommand {
        func name(_ key: String) -> String? { request[key]?.stringValue }
        func agentsAndEpoch() -> ([String], UInt64)? {
            guard let agents = request["agents"]?.arrayValue?.compactMap(\.stringValue), !agents.isEmpty,
                  let epoch = request["epoch"]?.intValue, epoch > 0 else { return nil }
            return (agents, UInt64(epoch))
        }
        switch cmd {
        case "agent_start":
            guard let json = request["spec"] else { return .invalid(cmd: cmd, error: "agent_start needs \"spec\"") }
            switch spec(json) {
            case .success(let parsed): return .agentStart(parsed, on: name("on"))
            case .failure(let error): return .invalid(cmd: cmd, error: error.message)
            }
        case "agent_stop":
            return name("name").map(OperatorCommand.agentStop) ?? .invalid(cmd: cmd, error: "agent_stop needs \"name\"")
        case "agent_kill":
            return name("name").map(OperatorCommand.agentKill) ?? .invalid(cmd: cmd, error: "agent_kill needs \"name\"")
        case "send":
            guard let to = name("to"), let text = name("text") else {
                return .invalid(cmd: cmd, error: "send needs \"to\" and \"text\"")
            }
            return .send(to: to, text: text)
        case "kill_switch":
            guard let (agents, epoch) = agentsAndEpoch() else {
                return .invalid(cmd: cmd, error: "kill_switch needs \"agents\": [names] and \"epoch\" > 0")
            }
            return .killSwitch(agents: agents, epoch: epoch,
                               reason: (name("reason") ?? "operator kill-switch").clipped(toUTF8Bytes: reasonBytesMax))
        case "revive":
            guard let (agents, epoch) = agentsAndEpoch() else {
                return .invalid(cmd: cmd, error: "revive needs \"agents\": [names] and \"epoch\" > 0")
            }
            return .revive(agents: agents, epoch: epoch, placer: name("placer"))
        case "quarantine":
            guard let (agents, epoch) = agentsAndEpoch() else {
                return .invalid(cmd: cmd, error: "quarantine needs \"agents\": [names] and \"epoch\" > 0")
            }
            return .quarantine(agents: agents, epoch: epoch,
                               reason: (name("reason") ?? "operator quarantine").clipped(toUTF8Bytes: reasonBytesMax))
        case "release":
            guard let (agents, epoch) = agentsAndEpoch() else {
                return .invalid(cmd: cmd, error: "release needs \"agents\": [names] and \"epoch\" > 0")
            }
            return .release(agents: agents, epoch: epoch)
        case "fault":
            switch FaultRule.parse(request) {
            case .success(let rule): return .fault(rule)
            case .failure(let error): return .invalid(cmd: cmd, error: error.message)
            }
        case "heal": return .heal
        case "halt": return .halt
        case "resume": return .resume
        case "shutdown_node": return .shutdownNode
        case "kill_node": return .killNode
        case "pause_node":
            guard let ms = request["for_ms"]?.intValue, ms > 0, ms <= pauseMsMax else {
                return .invalid(cmd: cmd, error: "pause_node needs \"for_ms\" in 1...\(pauseMsMax)")
            }
            return .pauseNode(.milliseconds(ms))
        case "keys_install", "keys_use", "keys_remove": return .keyring(cmd: cmd, request: request)
        default: return .invalid(cmd: cmd, error: "unknown command '\(cmd)'")
        }
    }

    /// The command's name on the control protocol (for the event log).
    public var name: String {
        switch self {
        case .agentStart: "agent_start"
        case .agentStop: "agent_stop"
        case .agentKill: "agent_kill"
        case .send: "send"
        case .killSwitch: "kill_switch"
        case .revive: "revive"
        case .quarantine: "quarantine"
        case .release: "release"
        case .fault: "fault"
        case .heal: "heal"
        case .halt: "halt"
        case .resume: "resume"
        case .shutdownNode: "shutdown_node"
        case .killNode: "kill_node"
        case .pauseNode: "pause_node"
        case .keyring(let cmd, _), .invalid(let cmd, _): cmd
        }
    }
}

/// What an injected network fault does to the frames this node sends to some peers.
public enum FaultEffect: Hashable, Sendable {
    case drop
    /// Drop this share of frames (0...100).
    case loss(percent: Double)
    /// Hold each frame this long plus up to `jitterMs` more.
    case delay(ms: UInt64, jitterMs: UInt64)
}

/// One validated `fault` command: an effect on frames to the named peers, for a while.
public struct FaultRule: Hashable, Sendable {
    public var effect: FaultEffect
    public var peers: Set<String>
    public var duration: Duration

    /// The longest delay a frame may be given.
    public static let delayMsMax: Int64 = 600_000

    public init(effect: FaultEffect, peers: Set<String>, duration: Duration) {
        self.effect = effect
        self.peers = peers
        self.duration = duration
    }

    /// `fault` with `block`, `loss` + `percent`, or `delay` + `ms` [+ `jitter_ms`], and `for_ms`.
    public static func parse(_ request: JSON) -> Result<FaultRule, AgentError> {
        guard let ms = request["for_ms"]?.intValue, ms > 0 else { return .failure(AgentError("fault needs \"for_ms\" > 0")) }
        func names(_ key: String) -> Set<String>? {
            guard let list = request[key]?.arrayValue?.compactMap(\.stringValue), !list.isEmpty else { return nil }
            return Set(list)
        }
        let duration = Duration.milliseconds(ms)
        if let blocked = names("block") {
            return .success(FaultRule(effect: .drop, peers: blocked, duration: duration))
        } else if let lossy = names("loss") {
            guard let percent = request["percent"]?.doubleValue, percent > 0, percent <= 100 else {
                return .failure(AgentError("loss needs \"percent\" in (0, 100]"))
            }
            return .success(FaultRule(effect: .loss(percent: percent), peers: lossy, duration: duration))
        } else if let slow = names("delay") {
            guard let delay = request["ms"]?.intValue, delay > 0, delay <= delayMsMax else {
                return .failure(AgentError("delay needs \"ms\" in 1...\(delayMsMax)"))
            }
            let jitter = max(0, min(request["jitter_ms"]?.intValue ?? 0, delayMsMax))
            return .success(FaultRule(effect: .delay(ms: UInt64(delay), jitterMs: UInt64(jitter)), peers: slow,
                                      duration: duration))
        }
        return .failure(AgentError("fault needs \"block\", \"loss\" or \"delay\" with a list of node names"))
    }
}
