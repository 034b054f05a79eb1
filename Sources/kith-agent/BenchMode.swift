/// The message-bench modes of kith-agent (used by `kithctl bench messages`):
/// a flood that sends as fast as the daemon answers, and a sink that counts
/// and times what arrives. Without these flags the agent is the reference agent.
enum BenchMode {
    case reference
    case flood(FloodSettings)
    case sink(SinkSettings)

    struct FloodSettings {
        var peer: String
        var count: Int
        /// Requests sent and not yet answered, at most.
        var window: Int
        /// The size the payload JSON is padded to (it is never shorter than its fields).
        var payloadBytes: Int
    }

    struct SinkSettings {
        /// How many messages make the run complete; nil: count forever.
        var expect: Int?
        /// Stop reading the socket after hello (back-pressure test).
        var stall: Bool
    }

    /// Bench flags as given, before validation.
    struct Flags {
        var values: [String: String] = [:]
        var switches: Set<String> = []
    }

    static let valueFlags: Set<String> = ["--flood", "--count", "--window", "--payload-bytes", "--expect"]
    static let switches: Set<String> = ["--sink", "--stall"]

    static func parse(_ flags: Flags) throws(Options.UsageError) -> BenchMode {
        func number(_ flag: String, _ range: ClosedRange<Int>) throws(Options.UsageError) -> Int? {
            guard let text = flags.values[flag] else { return nil }
            guard let value = Int(text.trimmingWhitespace()), range.contains(value) else {
                throw Options.UsageError(description: "\(flag) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
            }
            return value
        }
        let floodOnly = ["--count", "--window", "--payload-bytes"]
        let sinkOnly = ["--expect"]
        if let peer = flags.values["--flood"] {
            guard !flags.switches.contains("--sink"), !flags.switches.contains("--stall") else {
                throw Options.UsageError(description: "--flood and --sink/--stall exclude each other")
            }
            if let flag = sinkOnly.first(where: { flags.values[$0] != nil }) {
                throw Options.UsageError(description: "\(flag) belongs to --sink")
            }
            guard !peer.isEmpty else { throw Options.UsageError(description: "--flood needs a peer name") }
            guard let count = try number("--count", 1...1_000_000_000) else {
                throw Options.UsageError(description: "--flood needs --count N")
            }
            return .flood(FloodSettings(peer: peer, count: count, window: try number("--window", 1...1_000_000) ?? 1000,
                                        payloadBytes: try number("--payload-bytes", 0...60_000) ?? 64))
        }
        if flags.switches.contains("--sink") || flags.switches.contains("--stall") {
            if let flag = floodOnly.first(where: { flags.values[$0] != nil }) {
                throw Options.UsageError(description: "\(flag) belongs to --flood")
            }
            return .sink(SinkSettings(expect: try number("--expect", 1...1_000_000_000), stall: flags.switches.contains("--stall")))
        }
        if let flag = (floodOnly + sinkOnly).first(where: { flags.values[$0] != nil }) {
            throw Options.UsageError(description: "\(flag) needs --flood or --sink")
        }
        return .reference
    }
}
