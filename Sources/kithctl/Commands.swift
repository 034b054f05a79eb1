import KithControl
import KithLab

/// Routes the command word to its handler.
enum Commands {
    static func run(_ arguments: [String]) throws {
        // Everything after "--" belongs to an agent's command line (`agent start NAME -- COMMAND ...`).
        let ownArguments = arguments.prefix { $0 != "--" }
        var rest = Array(ownArguments)
        let node = try takeGlobalOption("--node", from: &rest)
        let key = OperatorKey(option: try takeGlobalOption("--key", from: &rest))
        if rest.first == "--version" {
            print("kithctl \(KithVersion.string)")
            return
        }
        if rest.contains("--help") || rest.contains("-h") || rest.first == "help" {
            // `kithctl help X` and `kithctl X --help` show X's entries; a bare help (or an unknown X) everything.
            let words = rest.filter { !$0.hasPrefix("-") }
            let command = words.first == "help" ? words.dropFirst().first : words.first
            print(command.flatMap(CommandHelp.text(for:)) ?? usageText)
            return
        }
        if let cluster = try takeGlobalOption("--cluster", from: &rest) { key.cluster = cluster }
        rest += arguments[ownArguments.endIndex...]
        guard let command = rest.first else { throw UsageError("no command given") }
        let tail = Array(rest.dropFirst())
        switch command {
        case "members": try NodeCommands.members(tail, node: node ?? Fleet.defaultNode())
        case "status": try NodeCommands.status(tail, node: node ?? Fleet.defaultNode())
        case "agents": try AgentCommands.list(tail, node: node ?? Fleet.defaultNode())
        case "agent": try AgentCommands.agent(tail, node: node ?? Fleet.defaultNode(), key: key)
        case "send": try AgentCommands.send(tail, node: node ?? Fleet.defaultNode(), key: key)
        case "lab": try LabCommands.run(tail, key: key)
        case "bench": try BenchCommands.bench(tail)
        case "demo": try BenchCommands.demo(tail)
        case "run": try RunCommand.run(tail, key: key)
        case "keygen": try Operator.keygen(tail, key: key)
        case "node": try NodeCertify.run(tail, node: node, key: key)
        case "shutdown": try OperatorCommands.shutdown(tail, node: node, key: key)
        case "kill": try OperatorCommands.kill(tail, node: node, key: key)
        case "pause": try OperatorCommands.pause(tail, node: node, key: key)
        case "kill-switch": try OperatorCommands.killSwitch(tail, node: node, key: key)
        case "revive": try OperatorCommands.revive(tail, node: node, key: key)
        case "quarantine": try OperatorCommands.quarantine(tail, node: node, key: key)
        case "release": try OperatorCommands.release(tail, node: node, key: key)
        case "halt": try OperatorCommands.halt(tail, node: node, key: key)
        case "resume": try OperatorCommands.resume(tail, node: node, key: key)
        case "keys": try OperatorCommands.keys(tail, node: node, key: key)
        case "partition": try FaultCommands.partition(tail, node: node, key: key)
        case "delay": try FaultCommands.delay(tail, node: node, key: key)
        case "loss": try FaultCommands.loss(tail, node: node, key: key)
        case "heal": try FaultCommands.heal(tail, node: node, key: key)
        case "events": try EventCommands.run(tail, node: node)
        default: throw UsageError("unknown command '\(command)'")
        }
    }

    /// Removes a global option (`--node HOST:PORT`, `--key FILE`, or the
    /// `--name=value` form) wherever it appears before any "--"; the last one given wins.
    private static func takeGlobalOption(_ name: String, from arguments: inout [String]) throws(UsageError) -> String? {
        var value: String?
        var index = 0
        while index < arguments.count {
            if arguments[index] == name {
                guard index + 1 < arguments.count else { throw UsageError("option \(name) needs a value") }
                value = arguments[index + 1]
                arguments.removeSubrange(index...index + 1)
            } else if arguments[index].hasPrefix(name + "=") {
                value = String(arguments[index].dropFirst(name.count + 1))
                arguments.remove(at: index)
            } else {
                index += 1
            }
        }
        return value
    }
}
