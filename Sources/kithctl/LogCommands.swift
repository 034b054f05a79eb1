import Foundation
import KithControl
import KithCore
import KithLab
import KithReport

/// `logs AGENT [-f] [--since T]`: an agent's output from every node that ran it, generation by
/// generation, each line with the time its daemon read it. Each node keeps its own
/// `DATA/agents/AGENT.log` (`AgentLogLine`); the daemon's start line for each process it starts
/// (`AgentLogMarker`) gives every generation its node, start time and pid.
enum LogCommands {
    /// The follow poll interval.
    static let pollMilliseconds = 500

    private typealias Segment = AgentLogSegment

    private static func header(_ segment: Segment) -> String {
        let started = segment.startedMs.map { EventCommands.clock($0) } ?? "--:--:--.---"
        let pid = segment.pid.map { " (pid \($0))" } ?? ""
        return "\(started)  \(segment.node)  \(segment.generation.map { "generation \($0)" } ?? "before any marker") started\(pid)"
    }

    /// `TIME  NODE  gN  TEXT`; stderr's and the daemon's lines say so before the text.
    private static func text(_ line: AgentLogLine, of segment: Segment) -> String {
        let time = line.tsMs.map { EventCommands.clock($0) } ?? "--:--:--.---"
        let stream = line.stream.flatMap { $0 == AgentLogLine.out ? nil : "[\($0)] " } ?? ""
        return "\(time)  \(segment.node)  g\(segment.generation.map(String.init) ?? "?")  \(stream)\(line.text)"
    }

    private static func json(_ line: AgentLogLine, of segment: Segment) -> JSON {
        ["node": .string(segment.node), "generation": segment.generation.map { .int(Int64($0)) } ?? .null,
         "started_ms": segment.startedMs.map(JSON.int) ?? .null, "pid": segment.pid.map { .int(Int64($0)) } ?? .null,
         "ts_ms": line.tsMs.map(JSON.int) ?? .null, "stream": line.stream.map(JSON.string) ?? .null, "line": .string(line.text)]
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
        /// Each node's log file as of its last reply: another one means it was rotated since.
        var files: [String: Int64] = [:]
        var current: [String: Segment] = [:]
        var silent: [String: String] = [:]

        func ask() -> [FleetOutcome] {
            let requests = members.map { member in
                var request: [String: JSON] = ["cmd": "logs", "agent": .string(agent)]
                if let offset = offsets[member.name] { request["offset"] = .int(offset) }
                if let file = files[member.name] { request["file_id"] = .int(file) }
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

        /// Prints the segment's lines from `since` on, after its header when asked for (and when it has
        /// lines to show or started from `since` on).
        func print(_ segment: Segment, header: Bool, endedMs: Int64? = nil) {
            let lines = segment.lines(since: since, endedMs: endedMs)
            if asJSON {
                for line in lines { Swift.print(json(line, of: segment).serialized()) }
                return
            }
            if header, !lines.isEmpty || since.map({ (segment.startedMs ?? 0) >= $0 }) ?? true { Swift.print(Self.header(segment)) }
            for line in lines { Swift.print(text(line, of: segment)) }
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
            files[name] = reply["file_id"]?.intValue
            let lines = (reply["lines"]?.arrayValue ?? []).compactMap(\.stringValue)
            let parts = Segment.split(lines, node: name)
            current[name] = parts.last
            all += parts
        }
        all.sort { ($0.startedMs ?? 0, $0.node) < ($1.startedMs ?? 0, $1.node) }
        for (index, segment) in all.enumerated() {
            print(segment, header: true, endedMs: Segment.ended(index, in: all))
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
                    let lines = (reply["lines"]?.arrayValue ?? []).compactMap(\.stringValue)
                    // A rotated log goes on with the generation that was writing (it starts with no start
                    // line); a new one (a fresh data directory) starts with one.
                    let continuing = current[name]
                    offsets[name] = reply["end"]?.intValue ?? offsets[name]
                    files[name] = reply["file_id"]?.intValue
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
