import Glibc
import KithLab

/// `lab ...`: each action parsed here and carried out by the kind of lab
/// recorded in its directory (loopback, network namespaces or containers);
/// `partition`, `heal` and `netem` are for netns and container labs only.
enum LabCommands {
    private static let signals: [String: (signal: Int32, name: String)] = [
        "kill": (SIGKILL, "SIGKILL"), "pause": (SIGSTOP, "SIGSTOP"),
        "resume": (SIGCONT, "SIGCONT"), "stop": (SIGTERM, "SIGTERM"),
    ]

    static func run(_ arguments: [String], key: OperatorKey) throws {
        guard let action = arguments.first else { throw UsageError("'lab' needs an action: up, status, down, kill, pause, resume, stop, start, partition, heal or netem") }
        let rest = Array(arguments.dropFirst())
        switch action {
        case "up" where rest.contains("--netns"):
            try upNetns(rest, key: key)
        case "up" where rest.contains("--docker"):
            try upDocker(rest, key: key)
        case "up":
            let recorded = directory(in: rest)
            if DockerLab.isRecorded(in: recorded) {
                throw Failure("a container lab is recorded in \(recorded); run 'kithctl lab down' first")
            }
            if NetnsLabRecord.isNetns(recorded) {
                throw Failure("a netns lab is recorded in \(recorded) (its namespaces and bridge may still exist);"
                              + " run 'kithctl lab down' first")
            }
            let options = try Arguments(rest, options: ["--nodes", "--dir", "--kithd", "--agents", "--policy", "--kith-agent",
                                                        "--relaunch-quorum"], switches: ["--insecure"])
            try options.expectPositionals([], command: "lab up")
            let (perNode, policy) = try agentOptions(options)
            let agents = perNode > 0 ? LocalLab.LabAgents(perNode: perNode, policy: policy,
                                                          kithAgent: try Executables.kithAgent(options.value("--kith-agent"))) : nil
            try LocalLab.up(count: options.integer("--nodes", default: 5, in: 1...LabCapacity.nodesMax), directory: directory(options),
                            kithd: LabLayout.kithd(options.value("--kithd")), agents: agents,
                            relaunchQuorum: relaunchQuorum(options), insecure: options.has("--insecure"), key: key)
        case "partition", "heal", "netem":
            try NetnsFaultCommands.run(action, rest, key: key)
        case "status":
            let lab = LabKinds.recorded(in: directory(in: rest))
            let options = try Arguments(rest, options: ["--dir"], switches: ["--json"])
            try options.expectPositionals([], command: "lab status")
            try lab.status(directory: directory(options), json: options.has("--json"))
        case "down":
            let lab = LabKinds.recorded(in: directory(in: rest))
            let options = try Arguments(rest, options: ["--dir"])
            try options.expectPositionals([], command: "lab down")
            try lab.down(directory: directory(options))
        case "start":
            let lab = LabKinds.recorded(in: directory(in: rest))
            let options = try Arguments(rest, options: ["--dir"])
            try options.expectPositionals(["NODE"], command: "lab start")
            try lab.start(options.positionals[0], directory: directory(options))
        default:
            guard let (signal, signalName) = signals[action] else { throw UsageError("unknown lab action '\(action)'") }
            let options = try Arguments(rest, options: ["--dir"])
            try options.expectPositionals(["NODE"], command: "lab \(action)")
            if DockerLab.isRecorded(in: directory(options)) {
                try DockerLab.act(action, on: options.positionals[0], directory: directory(options))
                return
            }
            try LocalLab.send(signal, named: signalName, to: options.positionals[0], directory: directory(options))
        }
    }

    /// `lab up --netns [--nodes N] [--subnet CIDR] ...`
    private static func upNetns(_ rest: [String], key: OperatorKey) throws {
        let options = try Arguments(rest, options: ["--nodes", "--dir", "--kithd", "--agents", "--policy", "--kith-agent", "--subnet",
                                                    "--relaunch-quorum"],
                                    switches: ["--netns"])
        try options.expectPositionals([], command: "lab up --netns")
        let (perNode, policy) = try agentOptions(options)
        let subnet = try options.value("--subnet").map { text throws(UsageError) in try NetnsSubnet(parsing: text) }
        let count = try options.integer("--nodes", default: 5, in: 1...64)
        try NetnsLab.requireRoot("lab up --netns")
        let agents = perNode > 0 ? LocalLab.LabAgents(perNode: perNode, policy: policy,
                                                      kithAgent: try Executables.kithAgent(options.value("--kith-agent"))) : nil
        try NetnsLab.up(count: count, directory: directory(options), kithd: LabLayout.kithd(options.value("--kithd")),
                        agents: agents, subnet: subnet, relaunchQuorum: relaunchQuorum(options), key: key)
    }

    /// `lab up --docker [--nodes N] [--image IMAGE] [--net-admin] [--subnet CIDR] ...`; `--kith-agent` is a path inside the image.
    private static func upDocker(_ rest: [String], key: OperatorKey) throws {
        let options = try Arguments(rest, options: ["--nodes", "--dir", "--agents", "--policy", "--kith-agent", "--image", "--subnet",
                                                    "--relaunch-quorum"],
                                    switches: ["--docker", "--net-admin"])
        try options.expectPositionals([], command: "lab up --docker")
        let (perNode, policy) = try agentOptions(options)
        let subnet = try options.value("--subnet").map { text throws(UsageError) in try NetnsSubnet(parsing: text) }
        let count = try options.integer("--nodes", default: 5, in: 1...64)
        let kithAgent = options.value("--kith-agent") ?? DockerCompose.kithAgent
        guard kithAgent.hasPrefix("/") else { throw UsageError("--kith-agent of a container lab is an absolute path inside the image") }
        let agents = perNode > 0 ? LocalLab.LabAgents(perNode: perNode, policy: policy, kithAgent: kithAgent) : nil
        try DockerLab.up(count: count, directory: directory(options), image: options.value("--image") ?? DockerEngine.defaultImage,
                         agents: agents, subnet: subnet, netAdmin: options.has("--net-admin"), relaunchQuorum: relaunchQuorum(options), key: key)
    }

    static func directory(_ options: Arguments) -> String {
        options.value("--dir").map(LabRecord.absolute) ?? LabRecord.defaultDirectory()
    }

    /// `--dir` from arguments not parsed yet (to decide which kind of lab handles them).
    private static func directory(in arguments: [String]) -> String {
        var found: String?
        for (index, argument) in arguments.enumerated() {
            if argument == "--dir", index + 1 < arguments.count { found = arguments[index + 1] }
            if argument.hasPrefix("--dir=") { found = String(argument.dropFirst(6)) }
        }
        return found.map(LabRecord.absolute) ?? LabRecord.defaultDirectory()
    }

    /// `--agents K` and `--policy P` of `lab up`, checked the same way with or without `--netns`.
    private static func agentOptions(_ options: Arguments) throws -> (perNode: Int, policy: String) {
        let perNode = try options.integer("--agents", default: 0, in: 0...64)
        let policy = options.value("--policy") ?? "relaunch"
        guard AgentRing.policies.contains(policy) else {
            throw UsageError("--policy must be none, relaunch or relaunch-and-mask, not '\(policy)'")
        }
        if perNode == 0 && (options.value("--policy") != nil || options.value("--kith-agent") != nil) {
            throw UsageError("--policy and --kith-agent apply to agents; add --agents K")
        }
        return (perNode, policy)
    }

    /// `--relaunch-quorum any|majority` of `lab up`, checked.
    private static func relaunchQuorum(_ options: Arguments) throws(UsageError) -> String? {
        guard let quorum = options.value("--relaunch-quorum") else { return nil }
        guard quorum == "any" || quorum == "majority" else {
            throw UsageError("--relaunch-quorum must be any or majority, not '\(quorum)'")
        }
        return quorum
    }
}
