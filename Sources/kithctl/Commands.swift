/// Routes the command word to its handler.
enum Commands {
    static func run(_ arguments: [String]) throws {
        // Everything after "--" belongs to an agent's command line (`agent start NAME -- COMMAND ...`).
        let ownArguments = arguments.prefix { $0 != "--" }
        if ownArguments.contains("--help") || ownArguments.contains("-h") || arguments.first == "help" {
            print(usageText)
            return
        }
        var rest = Array(ownArguments)
        let node = try takeGlobalOption("--node", from: &rest)
        Operator.keyOption = try takeGlobalOption("--key", from: &rest)
        rest += arguments[ownArguments.endIndex...]
        guard let command = rest.first else { throw UsageError("no command given") }
        let tail = Array(rest.dropFirst())
        switch command {
        case "members": try NodeCommands.members(tail, node: node ?? NodeCommands.defaultNode())
        case "status": try NodeCommands.status(tail, node: node ?? NodeCommands.defaultNode())
        case "agents": try AgentCommands.list(tail, node: node ?? NodeCommands.defaultNode())
        case "agent": try AgentCommands.agent(tail, node: node ?? NodeCommands.defaultNode())
        case "send": try AgentCommands.send(tail, node: node ?? NodeCommands.defaultNode())
        case "lab": try LabCommands.run(tail)
        case "bench": try Bench.run(tail)
        case "demo": try Demo.run(tail)
        case "run": try ScenarioRunner.run(tail)
        case "keygen": try Operator.keygen(tail)
        case "shutdown": try OperatorCommands.shutdown(tail, node: node)
        case "kill": try OperatorCommands.kill(tail, node: node)
        case "pause": try OperatorCommands.pause(tail, node: node)
        case "kill-switch": try OperatorCommands.killSwitch(tail, node: node)
        case "revive": try OperatorCommands.revive(tail, node: node)
        case "halt": try OperatorCommands.halt(tail, node: node)
        case "resume": try OperatorCommands.resume(tail, node: node)
        case "keys": try OperatorCommands.keys(tail, node: node)
        case "partition": try FaultCommands.partition(tail, node: node)
        case "delay": try FaultCommands.delay(tail, node: node)
        case "loss": try FaultCommands.loss(tail, node: node)
        case "heal": try FaultCommands.heal(tail, node: node)
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
