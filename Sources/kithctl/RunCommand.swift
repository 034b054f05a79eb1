import KithLab

/// `kithctl run SCENARIO.json [--report DIR] [--dry-run] [--kithd PATH] [--kith-agent PATH]`.
enum RunCommand {
    static func run(_ arguments: [String], key: OperatorKey) throws {
        let options = try Arguments(arguments, options: ["--report", "--kithd", "--kith-agent"], switches: ["--dry-run"])
        guard options.positionals.count == 1 else { throw UsageError("'run' takes one scenario file: kithctl run SCENARIO.json") }
        let scenario = try Scenario.load(path: options.positionals[0])
        let reportDirectory = options.value("--report").map(LabRecord.absolute)
            ?? LabRecord.absolute("kith-report-\(scenario.name)-\(ScenarioRunner.fileTimestamp())")
        try ScenarioRunner.run(scenario, reportDirectory: reportDirectory, dryRun: options.has("--dry-run"),
                               kithd: options.value("--kithd"), kithAgent: options.value("--kith-agent"),
                               operatorKey: key, commands: ScenarioCommands())
    }
}
