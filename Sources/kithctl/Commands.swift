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
        let node = try takeNodeOption(from: &rest)
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
        default: throw UsageError("unknown command '\(command)'")
        }
    }

    /// Removes the global `--node HOST:PORT` (or `--node=HOST:PORT`) wherever it appears before any "--".
    private static func takeNodeOption(from arguments: inout [String]) throws(UsageError) -> String? {
        var node: String?
        var index = 0
        while index < arguments.count {
            if arguments[index] == "--node" {
                guard index + 1 < arguments.count else { throw UsageError("option --node needs a value") }
                node = arguments[index + 1]
                arguments.removeSubrange(index...index + 1)
            } else if arguments[index].hasPrefix("--node=") {
                node = String(arguments[index].dropFirst("--node=".count))
                arguments.remove(at: index)
            } else {
                index += 1
            }
        }
        return node
    }
}
