import KithLab

/// One command's parsed options: positionals in order, `--name value` options and `--switch` flags.
///
/// Hand-written because the package takes no dependencies; each command names
/// the options it accepts, so a typo is an error rather than silently ignored.
struct Arguments {
    private(set) var positionals: [String] = []
    private var values: [String: [String]] = [:]
    private var switches: Set<String> = []

    init(_ arguments: [String], options: Set<String> = [], switches allowedSwitches: Set<String> = []) throws(UsageError) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("-"), argument != "-" else {
                positionals.append(argument)
                continue
            }
            var name = argument
            var inlineValue: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            }
            if options.contains(name) {
                if let inlineValue {
                    values[name, default: []].append(inlineValue)
                } else if index < arguments.count {
                    values[name, default: []].append(arguments[index])
                    index += 1
                } else {
                    throw UsageError("option \(name) needs a value")
                }
            } else if allowedSwitches.contains(name), inlineValue == nil {
                switches.insert(name)
            } else {
                throw UsageError("unknown option \(argument)")
            }
        }
    }

    /// The option's value; the last one when it was given more than once.
    func value(_ name: String) -> String? { values[name]?.last }

    /// Every value of an option that may repeat (`--env A=1 --env B=2`), in order.
    func all(_ name: String) -> [String] { values[name] ?? [] }

    func has(_ name: String) -> Bool { switches.contains(name) }

    /// The integer option `name`, `defaultValue` when absent, bounded by `range`.
    func integer(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        guard let text = values[name]?.last else { return defaultValue }
        guard let number = Int(text), range.contains(number) else {
            throw UsageError("\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
        }
        return number
    }

    /// Fails unless exactly `count` positionals were given, naming what they should be.
    func expectPositionals(_ names: [String], command: String) throws(UsageError) {
        guard positionals.count == names.count else {
            let expected = names.isEmpty ? "no arguments" : names.joined(separator: " ")
            throw UsageError("'\(command)' takes \(expected)")
        }
    }
}

extension Arguments {
    /// A duration option's value in milliseconds, `defaultValue` when absent.
    func milliseconds(_ name: String, default defaultValue: Int, in range: ClosedRange<Int> = 1...86_400_000) throws(UsageError) -> Int {
        guard let text = value(name) else { return defaultValue }
        return try Durations.milliseconds(text, option: name, in: range)
    }
}
