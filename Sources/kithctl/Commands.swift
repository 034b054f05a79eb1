import KithControl
import KithLab

/// Routes the command word to its handler.
enum Commands {
    static func run(_ arguments: [String]) throws {
        // Everything after "--" belongs to an agent's command line (`agent start NAME -- COMMAND ...`).
        let ownArguments = arguments.prefix { $0 != "--" }
        var rest = Array(ownArguments)
        // `events --node NAME` filters by node: there only what comes before the command word is global,
        // except a `--node HOST:PORT`, which still says which node to ask.
        var local: [String] = []
        if let word = commandIndex(rest), rest[word] == "events" {
            local = Array(rest[word...])
            rest.removeSubrange(word...)
            while let flag = local.indices.first(where: { local[$0] == "--node" && $0 + 1 < local.count && local[$0 + 1].contains(":") }) {
                rest += local[flag...flag + 1]
                local.removeSubrange(flag...flag + 1)
            }
        }
        let nodeOption = try takeGlobalOption("--node", from: &rest)
        let key = OperatorKey(option: try takeGlobalOption("--key", from: &rest))
        rest += local
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
        if let validFor = try takeGlobalOption("--valid-for", from: &rest) {
            key.validityMilliseconds = Int64(try Durations.milliseconds(validFor, option: "--valid-for",
                                                                         in: 1...Int(OperatorSigner.validityMax)))
        }
        let node = try ReadTarget.resolve(nodeOption)
        rest += arguments[ownArguments.endIndex...]
        guard let command = rest.first else { throw UsageError("no command given") }
        let tail = Array(rest.dropFirst())
        switch command {
        case "members": try NodeCommands.members(tail, node: node)
        case "status": try NodeCommands.status(tail, node: node)
        case "agents": try AgentCommands.list(tail, node: ReadTarget.answering(node))
        case "faults": try FaultListCommand.run(tail, node: node)
        case "logs": try LogCommands.run(tail, node: node)
        case "dashboard": try DashboardCommand.run(tail)
        case "agent": try AgentCommands.agent(tail, node: node ?? Fleet.defaultNode(), key: key)
        case "send": try AgentCommands.send(tail, node: node ?? Fleet.defaultNode(), key: key)
        case "lab": try LabCommands.run(tail, key: key)
        case "bench": try BenchCommands.bench(tail)
        case "demo": try BenchCommands.demo(tail)
        case "run": try RunCommand.run(tail, key: key)
        case "report": try ReportCommands.run(tail)
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
        case "check": try CheckCommand.run(tail)
        case "soak": try SoakCommand.run(tail)
        default: throw UsageError("unknown command '\(command)'")
        }
    }

    /// Where the command word is: the first argument that is neither an option nor a global option's value.
    private static func commandIndex(_ arguments: [String]) -> Int? {
        var index = 0
        while index < arguments.count {
            if ["--node", "--key", "--cluster"].contains(arguments[index]) {
                index += 2
            } else if arguments[index].hasPrefix("-") {
                index += 1
            } else {
                return index
            }
        }
        return nil
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
