import Foundation
import KithCore
import KithLab
import KithReport

/// Network faults between groups of nodes, set on the sending side of each
/// node and expired by the node itself, so kithctl can exit at once and a
/// forgotten partition still ends.
enum FaultCommands {
    private enum Kind {
        case partition, delay, loss

        var name: String {
            switch self {
            case .partition: "partition"
            case .delay: "delay"
            case .loss: "loss"
            }
        }
    }

    static func partition(_ arguments: [String], node: String?, key: OperatorKey) throws { try fault(.partition, arguments, node: node, key: key) }
    static func delay(_ arguments: [String], node: String?, key: OperatorKey) throws { try fault(.delay, arguments, node: node, key: key) }
    static func loss(_ arguments: [String], node: String?, key: OperatorKey) throws { try fault(.loss, arguments, node: node, key: key) }

    /// `partition A,B / C,D [--for D] [--oneway]`, `delay A / B --ms M [--jitter J]`, `loss A / B --percent P`.
    private static func fault(_ kind: Kind, _ arguments: [String], node: String?, key: OperatorKey) throws {
        let extra: Set<String> = switch kind {
        case .partition: []
        case .delay: ["--ms", "--jitter"]
        case .loss: ["--percent"]
        }
        let options = try Arguments(arguments, options: extra.union(["--for"]), switches: ["--oneway", "--json"])
        let (left, right) = try groups(options.positionals, command: kind.name)
        let duration = try options.milliseconds("--for", default: TimelineStep.faultMillisecondsDefault)

        var settings: [String: JSON] = ["for_ms": .int(Int64(duration))]
        let effect: String
        switch kind {
        case .partition:
            effect = "blocks"
        case .delay:
            guard let text = options.value("--ms") else { throw UsageError("'delay' needs --ms M (milliseconds added to each frame)") }
            let ms = try milliseconds(text, option: "--ms")
            let jitter = try options.value("--jitter").map { text throws(UsageError) in try milliseconds(text, option: "--jitter") } ?? 0
            settings["ms"] = .int(Int64(ms))
            settings["jitter_ms"] = .int(Int64(jitter))
            effect = "delays by \(ms)ms" + (jitter > 0 ? " ±\(jitter)ms" : "") + " frames to"
        case .loss:
            guard options.value("--percent") != nil else { throw UsageError("'loss' needs --percent P (1-100)") }
            let percent = try options.integer("--percent", default: 100, in: 1...100)
            settings["percent"] = .int(Int64(percent))
            effect = "drops \(percent)% of frames to"
        }

        let signer = try key.signer()
        let members = try Fleet.discover(node)
        let known = Set(members.map(\.name))
        if let unknown = (left + right).first(where: { !known.contains($0) }) {
            throw Failure("the cluster has no node '\(unknown)' (it has \(members.map(\.name).joined(separator: ", ")))")
        }
        let key = kind == .partition ? "block" : kind.name
        var requests: [(FleetMember, JSON)] = []
        var descriptions: [String: String] = [:]
        func add(_ from: [String], _ to: [String]) throws {
            for name in from {
                var request = settings
                request["cmd"] = "fault"
                request[key] = .array(to.map(JSON.string))
                requests.append((try Fleet.member(name, in: members), .object(request)))
                descriptions[name] = "\(effect) \(to.joined(separator: ", ")) for \(Table.duration(Double(duration)))"
            }
        }
        try add(left, right)
        if !options.has("--oneway") { try add(right, left) }

        let outcomes = Fleet.send(requests, signer: signer, timeoutMilliseconds: Fleet.fanOutTimeout)
        // Every named node must take it: a side that did not is no fault in place.
        try FanOutReport.finish(outcomes, json: options.has("--json"), what: kind.name, rule: .everyAddressed,
                                hint: " ('kithctl heal' clears what was set)") { descriptions[$0.member.name] }
        if !options.has("--json") {
            print("The nodes lift it themselves after \(Table.duration(Double(duration))); 'kithctl heal' ends it sooner.")
        }
    }

    /// `--ms` and `--jitter`: whole milliseconds, or a duration such as 1.5s.
    private static func milliseconds(_ text: String, option: String) throws(UsageError) -> Int {
        if let number = Int(text), (0...600_000).contains(number) { return number }
        return try Durations.milliseconds(text, option: option, in: 0...600_000)
    }

    /// The two groups either side of a lone "/": names separated by commas or spaces.
    static func groups(_ positionals: [String], command: String) throws(UsageError) -> (left: [String], right: [String]) {
        let usage = "'\(command)' takes two groups of nodes separated by a lone '/', e.g. \(command) n1,n2 / n3,n4,n5"
        guard let slash = positionals.firstIndex(of: "/"), positionals.filter({ $0 == "/" }).count == 1 else {
            throw UsageError(usage)
        }
        let left = OperatorCommands.names(Array(positionals[..<slash]))
        let right = OperatorCommands.names(Array(positionals[(slash + 1)...]))
        guard !left.isEmpty, !right.isEmpty else { throw UsageError(usage) }
        if let both = left.first(where: right.contains) { throw UsageError("node \(both) is on both sides of the '/'") }
        func unique(_ names: [String]) -> [String] {
            var seen: Set<String> = []
            return names.filter { seen.insert($0).inserted }
        }
        return (unique(left), unique(right))
    }

    /// `heal [--json] [--timeout D]`: every node clears its faults (idempotent); fails unless every
    /// member that has not left answered (but a dead one whose daemon is gone), since a frozen node keeps
    /// its faults until it is healed.
    static func heal(_ arguments: [String], node: String?, key: OperatorKey) throws {
        let options = try Arguments(arguments, options: ["--timeout"], switches: ["--json"])
        try options.expectPositionals([], command: "heal")
        let signer = try key.signer()
        let outcomes = Fleet.broadcast(["cmd": "heal"], to: try Fleet.discover(node), signer: signer,
                                       timeoutMilliseconds: try options.milliseconds("--timeout", default: Fleet.fanOutTimeout))
        try FanOutReport.finish(outcomes, json: options.has("--json"), what: "heal", ok: "healed", rule: .allButGone)
    }
}
