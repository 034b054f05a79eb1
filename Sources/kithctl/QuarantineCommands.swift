import KithControl
import KithCore
import KithLab

/// `quarantine` and `release`: the operator holds a suspect agent frozen
/// where it runs (kept for inspection, never relaunched, its shields refused)
/// and lets it go again. Signed once at one new epoch and sent to every node,
/// like the kill-switch, whose tombstone slot they share.
extension OperatorCommands {
    /// `quarantine AGENT... [--reason TEXT] [--timeout DURATION] [--json]`
    static func quarantine(_ arguments: [String], node: String?, key: OperatorKey) throws {
        let options = try Arguments(arguments, options: ["--reason", "--timeout"], switches: ["--json"])
        let timeout = try options.milliseconds("--timeout", default: 5000, in: 100...600_000)
        let agents = names(options.positionals)
        guard !agents.isEmpty else { throw UsageError("'quarantine' takes AGENT...") }
        var request: [String: JSON] = ["cmd": "quarantine", "agents": .array(agents.map(JSON.string))]
        // Clipped before signing to what the nodes keep: the signed request travels with every tombstone.
        if let reason = options.value("--reason") {
            request["reason"] = .string(reason.clipped(toUTF8Bytes: OperatorCommand.reasonBytesMax))
        }
        try fanOut(request, what: "quarantine", agents: agents, options: options, node: node, key: key, timeout: timeout)
    }

    /// `release AGENT... [--timeout DURATION] [--json]`: lifts the quarantine at a newer epoch; the agents run on.
    static func release(_ arguments: [String], node: String?, key: OperatorKey) throws {
        let options = try Arguments(arguments, options: ["--timeout"], switches: ["--json"])
        let timeout = try options.milliseconds("--timeout", default: 5000, in: 100...600_000)
        let agents = names(options.positionals)
        guard !agents.isEmpty else { throw UsageError("'release' takes AGENT...") }
        try fanOut(["cmd": "release", "agents": .array(agents.map(JSON.string))], what: "release", agents: agents,
                   options: options, node: node, key: key, timeout: timeout)
    }

    private static func fanOut(_ request: [String: JSON], what: String, agents: [String], options: Arguments, node: String?,
                               key: OperatorKey, timeout: Int) throws {
        let signer = try key.signer()
        let members = try Fleet.discover(node)
        let (epoch, outcomes) = try issueOnce(request, to: members, signer: signer, timeoutMilliseconds: timeout)
        if !options.has("--json") {
            print("\(what.prefix(1).uppercased() + what.dropFirst()) at epoch \(epoch) for \(agents.joined(separator: ", ")):")
        }
        try FanOutReport.finish(outcomes, json: options.has("--json"), what: what, ok: "acknowledged")
    }
}
