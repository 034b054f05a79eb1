import KithCore
import KithLab
import KithReport

/// `kithctl soak --for DURATION [--seed S] [--nodes N] [--agents K] [--relaunch-quorum majority|any] [--report DIR]
/// [--kithd PATH] [--kith-agent PATH]`.
enum SoakCommand {
    static func run(_ arguments: [String]) throws {
        let options = try Arguments(arguments, options: ["--for", "--seed", "--nodes", "--agents", "--relaunch-quorum", "--report",
                                                          "--kithd", "--kith-agent"])
        try options.expectPositionals([], command: "soak")
        guard options.value("--for") != nil else { throw UsageError("'soak' needs --for DURATION, e.g. --for 2m") }
        let duration = try options.milliseconds("--for", default: 0, in: 30_000...86_400_000)
        let seedText = options.value("--seed") ?? "1"
        guard let seed = UInt64(seedText) else { throw UsageError("--seed must be a whole number, not '\(seedText)'") }
        let nodes = try options.integer("--nodes", default: 5, in: 3...32)
        let agents = try options.integer("--agents", default: 1, in: 1...16)
        let quorumText = options.value("--relaunch-quorum") ?? "majority"
        guard let quorum = RelaunchQuorum(rawValue: quorumText) else {
            throw UsageError("--relaunch-quorum must be majority or any, not '\(quorumText)'")
        }
        let directory = options.value("--report").map(LabRecord.absolute)
            ?? LabRecord.absolute("kith-soak-\(seed)-\(ScenarioRunner.fileTimestamp())")
        let outcome = try Soak.run(.init(durationMs: duration, seed: seed, nodes: nodes, agentsPerNode: agents, directory: directory,
                                         kithd: options.value("--kithd"), kithAgent: options.value("--kith-agent"),
                                         quorum: quorum),
                                   commands: ScenarioCommands())
        print("")
        print(outcome.verdict.text, terminator: "")
        for log in outcome.logs where !log.ok { print("\(log.node): NOT VERIFIED, \(log.detail)") }
        print("soak: \(outcome.faults) faults (\(outcome.steps) steps, \(outcome.failedSteps) failed) over"
              + " \(Table.duration(Double(duration))), seed \(seed): \(outcome.ok ? "no violations" : "FAILED")")
        print("Files: \(directory)/soak.json, check.txt, events.jsonl")
        if !outcome.ok {
            throw Failure("soak failed: \(outcome.verdict.violations.count) violations, "
                          + "\(outcome.logs.filter { !$0.ok }.count) logs not verified; the lab's logs are kept (see above)")
        }
    }
}
