import KithLab

/// `bench membership|agents|messages` and `demo`: their options, then the runs in KithLab.
enum BenchCommands {
    private static let messagesOptions: Set<String> = ["--count", "--trials", "--payload-bytes", "--window", "--backpressure-count",
                                                       "--kithd", "--kith-agent"]

    static func bench(_ arguments: [String]) throws {
        switch benchmarkName(in: arguments) {
        case "agents": try agents(arguments)
        case "messages": try messages(arguments)
        default: try membership(arguments)
        }
    }

    private static func membership(_ arguments: [String]) throws {
        let options = try Arguments(arguments, options: ["--nodes", "--trials", "--idle", "--kithd"], switches: ["--json"])
        guard options.positionals == ["membership"] else { throw UsageError("'bench' takes one benchmark name: membership, agents or messages") }
        let count = try options.integer("--nodes", default: 5, in: 2...LabCapacity.nodesMax)
        let trials = try options.integer("--trials", default: 3, in: 1...1000)
        let idleSeconds = try options.integer("--idle", default: 10, in: 1...3600)
        try Bench.run(count: count, trials: trials, idleSeconds: idleSeconds, kithd: LabLayout.kithd(options.value("--kithd")),
                      json: options.has("--json"))
    }

    private static func agents(_ arguments: [String]) throws {
        let options = try Arguments(arguments, options: ["--nodes", "--agents", "--trials", "--kithd", "--kith-agent"],
                                    switches: ["--json"])
        guard options.positionals == ["agents"] else { throw UsageError("'bench' takes one benchmark name: membership or agents") }
        let count = try options.integer("--nodes", default: 16, in: 3...64)
        // Nodes take 8 agents by default; the relaunched ones need room on the survivors.
        let perNode = try options.integer("--agents", default: 4, in: 1...6)
        let trials = try options.integer("--trials", default: 5, in: 1...1000)
        let kithd = try LabLayout.kithd(options.value("--kithd"))
        try BenchAgents.run(count: count, perNode: perNode, trials: trials, kithd: kithd,
                            kithAgent: Executables.kithAgent(options.value("--kith-agent")), json: options.has("--json"))
    }

    private static func messages(_ arguments: [String]) throws {
        let options = try Arguments(arguments, options: messagesOptions, switches: ["--json", "--check-ratio"])
        guard options.positionals == ["messages"] else { throw UsageError("'bench' takes one benchmark name: membership, agents or messages") }
        if options.has("--check-ratio") {
            return try BenchMessages.checkRatio(count: try options.integer("--count", default: 100_000, in: 1...100_000_000),
                                                trials: try options.integer("--trials", default: 1, in: 1...1000),
                                                payloadBytes: try options.integer("--payload-bytes", default: 64, in: 0...60_000),
                                                kithd: try LabLayout.kithd(options.value("--kithd")),
                                                kithAgent: try Executables.kithAgent(options.value("--kith-agent")), json: options.has("--json"))
        }
        let count = try options.integer("--count", default: 200_000, in: 1...100_000_000)
        let trials = try options.integer("--trials", default: 3, in: 1...1000)
        let payloadBytes = try options.integer("--payload-bytes", default: 64, in: 0...60_000)
        let window = try options.integer("--window", default: 1000, in: 1...1_000_000)
        let backPressureCount = try options.integer("--backpressure-count", default: 500_000, in: 0...100_000_000)
        let kithd = try LabLayout.kithd(options.value("--kithd"))
        try BenchMessages.run(count: count, trials: trials, payloadBytes: payloadBytes, window: window,
                              backPressureCount: backPressureCount, kithd: kithd,
                              kithAgent: Executables.kithAgent(options.value("--kith-agent")), json: options.has("--json"))
    }

    /// The first argument that is neither an option nor an option's value.
    private static func benchmarkName(in arguments: [String]) -> String? {
        let takesValue: Set<String> = Set(["--nodes", "--trials", "--idle", "--kithd", "--agents", "--kith-agent"])
            .union(messagesOptions)
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            guard argument.hasPrefix("-") else { return argument }
            index += takesValue.contains(argument) ? 2 : 1
        }
        return nil
    }

    /// `demo [--nodes N] [--kithd PATH] [--kith-agent PATH]`
    static func demo(_ arguments: [String]) throws {
        let options = try Arguments(arguments, options: ["--nodes", "--kithd", "--kith-agent"])
        try options.expectPositionals([], command: "demo")
        let count = try options.integer("--nodes", default: 5, in: 4...16)
        let kithd = try LabLayout.kithd(options.value("--kithd"))
        try Demo.run(count: count, kithd: kithd, kithAgent: Executables.kithAgent(options.value("--kith-agent")),
                     commands: ScenarioCommands())
    }
}
