import Foundation
import KithControl
import KithCore
import KithLab
import KithReport

/// `logs AGENT [-f] [--since T]`: an agent's output from every node that ran it, generation by
/// generation. Each node keeps its own `DATA/agents/AGENT.log`; the daemon marks where each process it
/// starts begins (`AgentLogMarker`), which gives every generation its node and start time.
enum LogCommands {
    /// The follow poll interval.
    static let pollMilliseconds = 500

    private typealias Segment = AgentLogSegment

    private static func header(_ segment: Segment) -> String {
        let started = segment.startedMs.map { EventCommands.clock($0) } ?? "--:--:--.---"
        return "\(started)  \(segment.node)  \(segment.generation.map { "generation \($0)" } ?? "before any marker") started"
    }

    private static func text(_ line: String, of segment: Segment) -> String {
        "\(segment.node)  g\(segment.generation.map(String.init) ?? "?")  \(line)"
    }

    private static func json(_ line: String, of segment: Segment) -> JSON {
        ["node": .string(segment.node), "generation": segment.generation.map { .int(Int64($0)) } ?? .null,
         "started_ms": segment.startedMs.map(JSON.int) ?? .null, "line": .string(line)]
    }

    static func run(_ arguments: [String], node: String?) throws {
        let options = try Arguments(arguments, options: ["--since", "--timeout"], switches: ["-f", "--follow", "--json"])
        try options.expectPositionals(["AGENT"], command: "logs")
        let agent = options.positionals[0]
        let since = try options.value("--since").map { text throws(UsageError) in try EventCommands.sinceMilliseconds(text) }
        let timeout = try options.timeoutMilliseconds()
        let follow = options.has("-f") || options.has("--follow")
        let asJSON = options.has("--json")
        var members = try ReadTarget.discover(node)
        var offsets: [String: Int64] = [:]
        var current: [String: Segment] = [:]
        var silent: [String: String] = [:]

        func ask() -> [FleetOutcome] {
            let requests = members.map { member in
                var request: [String: JSON] = ["cmd": "logs", "agent": .string(agent)]
                if let offset = offsets[member.name] { request["offset"] = .int(offset) }
                return (member, JSON.object(request))
            }
            let outcomes = Fleet.send(requests, signer: nil, timeoutMilliseconds: timeout)
            for outcome in outcomes {
                let name = outcome.member.name
                if outcome.reply == nil {
                    if silent[name] != outcome.line() { printError(outcome.line()) }
                    silent[name] = outcome.line()
                } else if silent.removeValue(forKey: name) != nil {
                    printError("\(name): answering again")
                }
            }
            return outcomes
        }

        func print(_ segment: Segment, header: Bool) {
            if asJSON {
                for line in segment.lines { Swift.print(json(line, of: segment).serialized()) }
                return
            }
            if header { Swift.print(Self.header(segment)) }
            for line in segment.lines { Swift.print(text(line, of: segment)) }
        }

        // First: what each node has (its newest window), generations in the order they started.
        let outcomes = ask()
        var all: [Segment] = []
        var found = false
        for outcome in outcomes {
            guard let reply = outcome.reply else { continue }
            let name = outcome.member.name
            found = found || reply["exists"]?.boolValue == true
            offsets[name] = reply["end"]?.intValue ?? 0
            let lines = (reply["lines"]?.arrayValue ?? []).compactMap(\.stringValue)
            let parts = Segment.split(lines, node: name)
            current[name] = parts.last
            all += parts
        }
        all.sort { ($0.startedMs ?? 0, $0.node) < ($1.startedMs ?? 0, $1.node) }
        for (index, segment) in all.enumerated() where since.map({ Segment.ended(index, in: all) ?? .max >= $0 }) ?? true {
            print(segment, header: true)
        }
        fflush(nil)
        if !follow {
            guard found || outcomes.contains(where: { $0.reply == nil }) else {
                throw Failure("no node has a log of agent '\(agent)' (asked \(members.map(\.name).joined(separator: ", ")))")
            }
            let failed = outcomes.filter { $0.reply == nil && $0.member.isLive }.map(\.member.name)
            if !failed.isEmpty { throw Failure("no logs from \(failed.joined(separator: ", ")), which the cluster counts alive") }
            return
        }
        Interrupt.install()
        do {
            while true {
                try Waiting.sleep(milliseconds: pollMilliseconds)
                if let found = try? Fleet.discover(node) { members = found }
                for outcome in ask() {
                    guard let reply = outcome.reply else { continue }
                    let name = outcome.member.name
                    let start = reply["start"]?.intValue ?? 0
                    let lines = (reply["lines"]?.arrayValue ?? []).compactMap(\.stringValue)
                    // A file that starts over (rotated, or a fresh data directory) continues no segment.
                    let continuing = start < (offsets[name] ?? 0) ? nil : current[name]
                    offsets[name] = reply["end"]?.intValue ?? offsets[name]
                    guard !lines.isEmpty else { continue }
                    let parts = Segment.split(lines, node: name, continuing: continuing)
                    for (index, segment) in parts.enumerated() {
                        print(segment, header: index > 0 || continuing == nil || continuing?.startedMs != segment.startedMs)
                    }
                    if var last = parts.last {
                        last.lines = []
                        current[name] = last
                    }
                }
                fflush(nil)
            }
        } catch {
            return  // only Ctrl-C (Interrupted) ends following
        }
    }
}
