import KithLab

/// `lab partition`, `lab heal` and `lab netem`: the options of the faults a
/// netns lab applies in its namespaces' kernels (`NetnsLabFaults`).
enum NetnsFaultCommands {
    static func run(_ action: String, _ rest: [String], key: OperatorKey) throws {
        switch action {
        case "partition":
            let options = try Arguments(rest, options: ["--dir"], switches: ["--oneway"])
            let (left, right) = try FaultCommands.groups(options.positionals, command: "lab partition")
            try NetnsLabFaults.partition(left: left, right: right, oneway: options.has("--oneway"), directory: LabCommands.directory(options))
        case "heal":
            let options = try Arguments(rest, options: ["--dir"])
            try options.expectPositionals([], command: "lab heal")
            try NetnsLabFaults.heal(directory: LabCommands.directory(options))
        default:
            let options = try Arguments(rest, options: ["--dir", "--delay", "--jitter", "--loss"], switches: ["--clear"])
            try options.expectPositionals(["NODE|all"], command: "lab netem")
            let target = options.positionals[0]
            if options.has("--clear") {
                guard options.value("--delay") == nil, options.value("--jitter") == nil, options.value("--loss") == nil else {
                    throw UsageError("'lab netem --clear' takes no --delay, --jitter or --loss")
                }
                try NetnsLabFaults.clear(target, directory: LabCommands.directory(options), key: key)
                return
            }
            let delay = try options.value("--delay").map { text throws(UsageError) in try milliseconds(text, option: "--delay") }
            let jitter = try options.value("--jitter").map { text throws(UsageError) in try milliseconds(text, option: "--jitter") }
            let loss = try options.value("--loss").map { text throws(UsageError) in try percent(text) }
            guard delay != nil || loss != nil else {
                throw UsageError("'lab netem NODE|all' needs --delay MS and/or --loss PERCENT (or --clear)")
            }
            if jitter != nil && delay == nil { throw UsageError("--jitter needs --delay") }
            try NetnsLabFaults.netem(target, delay: delay, jitter: jitter, loss: loss, directory: LabCommands.directory(options), key: key)
        }
    }

    /// `50`, `50ms` or `0.5s`: milliseconds from 0 to 60 s.
    private static func milliseconds(_ text: String, option: String) throws(UsageError) -> Int {
        if let number = Int(text), (0...60_000).contains(number) { return number }
        return try Durations.milliseconds(text, option: option, in: 0...60_000)
    }

    /// `5` or `5%`: a share from 0 to 100.
    private static func percent(_ text: String) throws(UsageError) -> Double {
        let number = text.hasSuffix("%") ? String(text.dropLast()) : text
        guard let value = Double(number), (0...100).contains(value) else {
            throw UsageError("--loss takes a percentage from 0 to 100 (5 or 5%), not '\(text)'")
        }
        return value
    }
}
