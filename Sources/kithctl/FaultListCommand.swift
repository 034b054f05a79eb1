import KithCore
import KithLab
import KithReport

/// `faults [--json] [--timeout D]`: every node's active faults (set with partition, delay or loss) and
/// the time each has left, asked of every member; fails when a live member did not answer, since its
/// faults are then unknown.
enum FaultListCommand {
    static func run(_ arguments: [String], node: String?) throws {
        let options = try Arguments(arguments, options: ["--timeout"], switches: ["--json"])
        try options.expectPositionals([], command: "faults")
        let members = try ReadTarget.discover(node)
        let outcomes = Fleet.broadcast(["cmd": "status"], to: members, signer: nil,
                                       timeoutMilliseconds: try options.timeoutMilliseconds())
        var faults: [JSON] = []
        for outcome in outcomes {
            for case .object(var fault) in outcome.reply?["faults"]?.arrayValue ?? [] {
                fault["node"] = .string(outcome.member.name)
                faults.append(.object(fault))
            }
        }
        if options.has("--json") {
            print(JSON.array(faults).serialized(pretty: true))
        } else if faults.isEmpty {
            print("No active faults on the nodes that answered.")
        } else {
            let rows = faults.map { fault in
                [Table.cell(fault["node"]), effect(fault), (fault["peers"]?.arrayValue ?? []).map { Table.cell($0) }.joined(separator: ","),
                 Table.duration(fault["remaining_ms"]?.doubleValue ?? 0)]
            }
            print(Table.render(header: ["NODE", "EFFECT", "FRAMES TO", "TIME LEFT"], rows: rows), terminator: "")
        }
        let silent = outcomes.filter { $0.reply == nil }
        for outcome in silent { printError(outcome.line()) }
        let live = silent.filter(\.member.isLive).map(\.member.name)
        if !live.isEmpty { throw Failure("faults unknown on \(live.joined(separator: ", ")), which the cluster counts alive") }
    }

    /// "drop", "delay 100±20ms", "loss 30%".
    private static func effect(_ fault: JSON) -> String {
        switch fault["effect"]?.stringValue {
        case "delay": "delay \(Table.cell(fault["ms"]))±\(Table.cell(fault["jitter_ms"]))ms"
        case "loss": "loss \(Table.cell(fault["percent"]))%"
        case let other: other ?? "?"
        }
    }
}
