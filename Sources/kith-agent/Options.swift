/// Command-line flags and the environment the daemon provides.
///
/// Flags override their environment defaults (`KITH_POLICY`, `KITH_PROTECTS`,
/// `KITH_INTERVAL_MS`); the agent's identity comes only from the environment.
struct Options {
    var policy: Policy
    /// Peers this agent pings and guards, in the order given, without duplicates.
    var protects: [String]
    var intervalMilliseconds: Int
    var agent: String
    var socketPath: String
    var token: String
    /// What the daemon said at start; `hello`'s reply is authoritative.
    var node: String
    var generation: Int64?
    /// The reference behaviour, or one of the message-bench modes (see `BenchMode`).
    var mode: BenchMode = .reference

    static let usage = """
        usage: kith-agent [--policy none|relaunch|relaunch-and-mask] [--protects A,B] [--interval-ms N]
               kith-agent --flood PEER --count N [--window W] [--payload-bytes B]
               kith-agent --sink [--expect N] [--stall]
        Flags default to $KITH_POLICY, $KITH_PROTECTS and $KITH_INTERVAL_MS. The daemon sets
        KITH_AGENT, KITH_SOCKET, KITH_TOKEN, KITH_NODE and KITH_GENERATION.
        """

    struct UsageError: Error, CustomStringConvertible {
        var description: String
    }

    enum Parsed {
        case run(Options)
        case help
    }

    private static let flags = ["--policy": "KITH_POLICY", "--protects": "KITH_PROTECTS",
                                "--interval-ms": "KITH_INTERVAL_MS"]

    static func parse(_ arguments: [String], environment: [String: String]) throws(UsageError) -> Parsed {
        // Environment first, then flags over it; each value remembers where it came from.
        var raw: [String: (value: String, source: String)] = [:]
        for (flag, variable) in flags {
            if let value = environment[variable], !value.isEmpty { raw[flag] = (value, "$" + variable) }
        }
        var bench = BenchMode.Flags()
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument == "--help" || argument == "-h" { return .help }
            if BenchMode.switches.contains(argument) { bench.switches.insert(argument); continue }
            var flag = argument
            var value: String?
            if let equals = argument.firstIndex(of: "=") {
                flag = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            if BenchMode.valueFlags.contains(flag) {
                if value == nil { value = rest.popFirst() }
                guard let value else { throw UsageError(description: "\(flag) needs a value") }
                bench.values[flag] = value
                continue
            }
            guard flags[flag] != nil else { throw UsageError(description: "unknown flag \(argument)") }
            if value == nil { value = rest.popFirst() }
            guard let value else { throw UsageError(description: "\(flag) needs a value") }
            raw[flag] = (value, flag)
        }

        var policy = Policy.none
        if let (value, source) = raw["--policy"] {
            guard let parsed = Policy(rawValue: value) else {
                throw UsageError(description: "\(source): unknown policy '\(value)' (none, relaunch, relaunch-and-mask)")
            }
            policy = parsed
        }
        var protects: [String] = []
        for name in (raw["--protects"]?.value ?? "").split(separator: ",") {
            let trimmed = name.trimmingWhitespace()
            if !trimmed.isEmpty && !protects.contains(trimmed) { protects.append(trimmed) }
        }
        var interval = 500
        if let (value, source) = raw["--interval-ms"] {
            guard let parsed = Int(value.trimmingWhitespace()), (1...86_400_000).contains(parsed) else {
                throw UsageError(description: "\(source): interval must be a whole number of milliseconds, 1 or more, not '\(value)'")
            }
            interval = parsed
        }

        func required(_ variable: String) throws(UsageError) -> String {
            guard let value = environment[variable], !value.isEmpty else {
                throw UsageError(description: "$\(variable) is not set; kith-agent is meant to be started by kithd")
            }
            return value
        }
        let mode = try BenchMode.parse(bench)
        return .run(Options(
            policy: policy, protects: protects, intervalMilliseconds: interval,
            agent: try required("KITH_AGENT"), socketPath: try required("KITH_SOCKET"),
            token: environment["KITH_TOKEN"] ?? "", node: environment["KITH_NODE"].flatMap { $0.isEmpty ? nil : $0 } ?? "?",
            generation: environment["KITH_GENERATION"].flatMap { Int64($0) }, mode: mode))
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
