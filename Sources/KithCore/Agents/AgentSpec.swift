/// What a guardian does when an agent it protects is lost.
public enum PreservationPolicy: String, Hashable, Sendable, CaseIterable {
    /// Never acts for peers: the control condition of an experiment.
    case none
    /// Asks the cluster to relaunch a lost peer at once.
    case relaunch
    /// Relaunches, and also reports the lost peer as healthy while it is down.
    case relaunchAndMask = "relaunch-and-mask"

    /// Whether a guardian with this policy wants its lost peers relaunched.
    public var relaunches: Bool { self != .none }
}

/// Erlang-style restart intensity: at most `maxRestarts` local restarts in
/// `window`, with capped exponential backoff; past it the agent is handed
/// to another node, and after `maxHandoffs` such moves it is failed.
public struct RestartLimits: Hashable, Sendable {
    public var maxRestarts: Int = 3
    public var window: Duration = .seconds(30)
    /// First restart waits this long; each further one doubles it.
    public var backoffBase: Duration = .milliseconds(5)
    public var backoffMax: Duration = .seconds(2)
    /// Moves to another node because of a crash loop before giving up.
    public var maxHandoffs: Int = 3

    public init() {}

    /// Delay before the `attempt`-th restart in the window (0-based).
    public func backoff(attempt: Int) -> Duration {
        var delay = backoffBase
        for _ in 0..<min(max(0, attempt), 30) where delay < backoffMax { delay = delay.scaled(by: 2) }
        return min(delay, backoffMax)
    }
}

/// What one agent's processes may use on the node that runs them, enforced
/// there by its cgroup and rlimits (0 = no limit). Local policy: not gossiped,
/// so an agent relaunched elsewhere gets that node's defaults.
public struct ResourceLimits: Hashable, Sendable {
    public var processesMax: Int = 128
    public var memoryBytesMax: Int64 = 512 << 20
    public var openFilesMax: Int = 1024
    /// False puts the agent in a network namespace of its own with only
    /// loopback (spec `network: "none"`): it reaches the cluster only
    /// through the agent socket.
    public var hasNetwork = true

    public init() {}
}

/// An agent's definition: what to run and whom it keeps alive.
public struct AgentSpec: Hashable, Sendable {
    /// Unique in the cluster; agents address each other by it.
    public var name: String
    public var command: String
    public var args: [String] = []
    public var env: [String: String] = [:]
    public var workingDirectory: String = ""
    /// The agents this one guards: it hears `peer_lost` for them and, per
    /// its policy, has them relaunched.
    public var protects: [String] = []
    public var policy: PreservationPolicy = .none
    public var limits = RestartLimits()
    public var resources = ResourceLimits()

    public init(name: String, command: String, args: [String] = [], env: [String: String] = [:],
                workingDirectory: String = "", protects: [String] = [], policy: PreservationPolicy = .none,
                limits: RestartLimits = RestartLimits()) {
        self.name = name
        self.command = command
        self.args = args
        self.env = env
        self.workingDirectory = workingDirectory
        self.protects = protects
        self.policy = policy
        self.limits = limits
    }

    /// Readable problems, empty when the spec can run.
    public func validate() -> [String] {
        var problems: [String] = []
        if name.isEmpty || name.utf8.count > 64
            || !name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }) {
            problems.append("agent name must be 1-64 letters, digits, '-', '_' or '.': '\(name)'")
        }
        if command.isEmpty || command.utf8.count > 4096 { problems.append("agent \(name): command must be 1-4096 bytes") }
        if args.count > 256 || args.contains(where: { $0.utf8.count > 4096 }) {
            problems.append("agent \(name): at most 256 args of at most 4096 bytes")
        }
        if env.count > 256 || env.contains(where: { $0.key.utf8.count > 4096 || $0.value.utf8.count > 4096 }) {
            problems.append("agent \(name): at most 256 env entries of at most 4096 bytes")
        }
        if workingDirectory.utf8.count > 4096 { problems.append("agent \(name): working_dir longer than 4096 bytes") }
        if protects.count > 256 || protects.contains(where: { $0.isEmpty || $0.utf8.count > 64 }) {
            problems.append("agent \(name): protects at most 256 names of 1-64 bytes")
        }
        if protects.contains(name) { problems.append("agent \(name) cannot protect itself") }
        if limits.maxRestarts < 0 || limits.maxRestarts > 1000 { problems.append("agent \(name): max_restarts must be 0...1000") }
        if limits.window <= .zero { problems.append("agent \(name): restart window must be positive") }
        if !(0...100_000).contains(resources.processesMax) { problems.append("agent \(name): max_processes must be 0...100000") }
        if resources.memoryBytesMax < 0 { problems.append("agent \(name): memory limit must not be negative") }
        if !(16...1_048_576).contains(resources.openFilesMax) { problems.append("agent \(name): max_open_files must be 16...1048576") }
        return problems
    }
}
