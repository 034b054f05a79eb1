import KithCore
import KithLab

/// `kithctl run SCENARIO.json [--report DIR] [--repeats N] [--resume] [--dry-run] [--kithd PATH] [--kith-agent PATH]`.
enum RunCommand {
    static func run(_ arguments: [String], key: OperatorKey) throws {
        let options = try Arguments(arguments, options: ["--report", "--kithd", "--kith-agent", "--repeats"],
                                    switches: ["--dry-run", "--resume"])
        guard options.positionals.count == 1 else { throw UsageError("'run' takes one scenario file: kithctl run SCENARIO.json") }
        let scenario = try Scenario.load(path: options.positionals[0])
        var repeats: Int?
        if let text = options.value("--repeats") {
            guard let number = Int(text), (1...Scenario.maxRepeats).contains(number) else {
                throw UsageError("--repeats must be a whole number from 1 to \(Scenario.maxRepeats), not '\(text)'")
            }
            repeats = number
        }
        if options.has("--resume"), options.value("--report") == nil {
            throw UsageError("--resume needs --report DIR: the report directory whose finished runs are kept")
        }
        let reportDirectory = options.value("--report").map(LabRecord.absolute)
            ?? LabRecord.absolute("kith-report-\(scenario.name)-\(ScenarioRunner.fileTimestamp())")
        let settings: JSON = ["command": .array((["kithctl", "run"] + arguments).map(JSON.string)),
                              "scenario_file": .string(LabRecord.absolute(options.positionals[0])),
                              "report": .string(reportDirectory), "repeats": .int(Int64(repeats ?? scenario.repeats)),
                              "resume": .bool(options.has("--resume")),
                              "kithd": options.value("--kithd").map(JSON.string) ?? .null,
                              "kith_agent": options.value("--kith-agent").map(JSON.string) ?? .null]
        try ScenarioRunner.run(scenario, options: .init(reportDirectory: reportDirectory, dryRun: options.has("--dry-run"),
                                                        kithd: options.value("--kithd"), kithAgent: options.value("--kith-agent"),
                                                        repeats: repeats, resume: options.has("--resume"), settings: settings),
                               operatorKey: key, commands: ScenarioCommands())
    }
}
