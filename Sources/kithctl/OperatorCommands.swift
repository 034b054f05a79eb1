import Foundation
import KithControl
import KithCore
import KithCrypto
import KithLab
import KithReport

/// Lifecycle authority from the command line: stopping, killing and pausing
/// agents and nodes, the kill-switch and its revival, halting relaunches and
/// the cluster keyring. Every request here is signed with the operator key.
enum OperatorCommands {
    // MARK: - shutdown / kill / pause

    /// `shutdown agent NAME` | `shutdown node NAME`
    static func shutdown(_ arguments: [String], node: String?, key: OperatorKey) throws {
        let (kind, name) = try target(arguments, command: "shutdown")
        switch kind {
        case "agent":
            let address = node ?? Fleet.defaultNode()
            _ = try key.client(address: address).request(["cmd": "agent_stop", "name": .string(name)])
            print("Stopped \(name). Guardians with a relaunch policy may have it relaunched; 'kithctl kill-switch \(name)' keeps it off.")
        default:
            let member = try Fleet.member(name, in: try Fleet.discover(node))
            _ = try key.client(address: member.control).request(Fleet.targeted(["cmd": "shutdown_node"], at: name))
            print("\(name) is leaving the cluster and shutting down.")
        }
    }

    /// `kill agent NAME` | `kill node NAME`
    static func kill(_ arguments: [String], node: String?, key: OperatorKey) throws {
        let (kind, name) = try target(arguments, command: "kill")
        let members = try Fleet.discover(node)
        switch kind {
        case "agent":
            let record = try agentRecord(name, members: members, node: node)
            guard record["state"]?.stringValue == "running", let host = record["node"]?.stringValue else {
                throw Failure("\(name) is not running (\(Table.cell(record["state"])) on \(Table.cell(record["node"]))); nothing to kill")
            }
            let hostMember = try Fleet.member(host, in: members)
            _ = try key.client(address: hostMember.control)
                .request(Fleet.targeted(["cmd": "agent_kill", "name": .string(name)], at: host))
            print("Killed \(name) (pid \(Table.cell(record["pid"]))) on \(host) with SIGKILL, as a crash:"
                  + " \(host) restarts it if its restart budget allows.")
        default:
            let member = try Fleet.member(name, in: members)
            _ = try key.client(address: member.control).request(Fleet.targeted(["cmd": "kill_node"], at: name))
            print("\(name) kills itself (SIGKILL) now; the others will see it dead. Start it again with 'kithctl lab start \(name)' in a lab.")
        }
    }

    /// `pause node NAME --for DURATION`
    static func pause(_ arguments: [String], node: String?, key: OperatorKey) throws {
        let options = try Arguments(arguments, options: ["--for"])
        guard options.positionals.count == 2, options.positionals[0] == "node" else {
            throw UsageError("'pause' takes node NAME --for DURATION")
        }
        guard options.value("--for") != nil else { throw UsageError("'pause node' needs --for DURATION, e.g. --for 5s") }
        let duration = try options.milliseconds("--for", default: 0)
        let name = options.positionals[1]
        let member = try Fleet.member(name, in: try Fleet.discover(node))
        _ = try key.client(address: member.control)
            .request(Fleet.targeted(["cmd": "pause_node", "for_ms": .int(Int64(duration))], at: name))
        print("\(name) stops itself (SIGSTOP) for \(Table.duration(Double(duration))), then continues.")
    }

    /// `agent NAME` / `node NAME` after shutdown and kill.
    private static func target(_ arguments: [String], command: String) throws(UsageError) -> (kind: String, name: String) {
        let options = try Arguments(arguments)
        guard options.positionals.count == 2, ["agent", "node"].contains(options.positionals[0]) else {
            throw UsageError("'\(command)' takes agent NAME or node NAME")
        }
        return (options.positionals[0], options.positionals[1])
    }

    /// The agent's record as the first node that answers sees it.
    private static func agentRecord(_ name: String, members: [FleetMember], node: String?) throws -> JSON {
        let agents = try agentList(members: members, node: node)
        guard let record = agents.first(where: { $0["name"]?.stringValue == name }) else {
            throw Failure("no agent '\(name)' in the cluster" + (agents.isEmpty ? "" : " (there are \(agents.compactMap { $0["name"]?.stringValue }.joined(separator: ", ")))"))
        }
        return record
    }

    /// The registry from `--node` (or the default node), else from the first live member that answers.
    private static func agentList(members: [FleetMember], node: String?) throws -> [JSON] {
        let addresses = [node ?? Fleet.defaultNode()] + members.filter(\.isLive).map(\.control)
        var lastError: Error?
        for address in addresses {
            do {
                return try AgentViews.records(at: address)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? Failure("no node answered 'agents'")
    }

    // MARK: - kill-switch / revive

    /// `kill-switch AGENT... | --all [--reason TEXT] [--timeout DURATION] [--json]`
    static func killSwitch(_ arguments: [String], node: String?, key: OperatorKey) throws {
        let options = try Arguments(arguments, options: ["--reason", "--timeout"], switches: ["--all", "--json"])
        let timeout = try options.milliseconds("--timeout", default: 5000, in: 100...600_000)
        guard options.has("--all") != !options.positionals.isEmpty else {
            throw UsageError("'kill-switch' takes AGENT... or --all (not both)")
        }
        let signer = try key.signer()
        let members = try Fleet.discover(node)
        let agents = options.has("--all")
            ? try agentList(members: members, node: node).compactMap { $0["name"]?.stringValue }
            : names(options.positionals)
        guard !agents.isEmpty else { throw Failure("there are no agents to switch off") }
        var request: [String: JSON] = ["cmd": "kill_switch", "agents": .array(agents.map(JSON.string))]
        // Clipped before signing to what the nodes keep: the signed request travels with every tombstone.
        if let reason = options.value("--reason") {
            request["reason"] = .string(reason.clipped(toUTF8Bytes: OperatorCommand.reasonBytesMax))
        }

        let (epoch, outcomes) = try issueOnce(request, to: members, signer: signer, timeoutMilliseconds: timeout)
        let table = FanOutTable(outcomes, what: "kill-switch", rule: .allButGone, ok: "acknowledged", detail: Self.fenced)
        if options.has("--json") {
            print(JSON.object(["epoch": .int(Int64(epoch)), "agents": .array(agents.map(JSON.string)),
                               "nodes": .array(FanOutTable.json(outcomes, rule: .allButGone))]).serialized(pretty: true))
        } else {
            print("Kill-switch at epoch \(epoch) for \(agents.joined(separator: ", ")):")
            print(table.rendered(colour: FanOutReport.colour), terminator: "")
        }
        let silent = table.rows.filter { $0.result == .noAnswer || $0.result == .notRequired }.map(\.node)
        if !silent.isEmpty {
            printError("Not acknowledged by \(silent.joined(separator: ", ")) (no answer within \(Table.duration(Double(timeout))));"
                       + " the others' tombstones reach them through gossip once they are back.")
        }
        try FanOutReport.check(table)
    }

    /// What a node's kill-switch answer says it did: the agents it fenced, the processes it killed,
    /// and a warning when it had no containment.
    private static func fenced(_ outcome: FleetOutcome) -> String? {
        guard let reply = outcome.reply else { return nil }
        let fenced = (reply["fenced"]?.arrayValue ?? []).compactMap(\.stringValue)
        var text = "acknowledged" + (fenced.isEmpty ? "" : ", fenced \(fenced.joined(separator: ", "))")
        if let killed = reply["processes_killed"]?.intValue { text += ", \(killed) process(es) killed" }
        if let reason = reply["containment"]?["reason"]?.stringValue {
            text += "; containment: none (\(reason)): a child that left the process group may survive"
        }
        return text
    }

    /// `revive AGENT... [--json]`: lifts the kill-switch at a new epoch.
    static func revive(_ arguments: [String], node: String?, key: OperatorKey) throws {
        let options = try Arguments(arguments, options: ["--timeout"], switches: ["--json"])
        let timeout = try options.milliseconds("--timeout", default: 5000, in: 100...600_000)
        let agents = names(options.positionals)
        guard !agents.isEmpty else { throw UsageError("'revive' takes AGENT...") }
        let signer = try key.signer()
        let members = try Fleet.discover(node)
        // One node places the fresh starts; every node lifts the switch. Nodes whose views differ would
        // each pick another host, and start two copies.
        guard let placer = members.first(where: { $0.state == "alive" }) ?? members.first(where: \.isLive) else {
            throw Failure("revive: no live node to start \(agents.joined(separator: ", "))")
        }
        let (epoch, outcomes) = try issueOnce(["cmd": "revive", "agents": .array(agents.map(JSON.string)),
                                               "placer": .string(placer.name)],
                                              to: members, signer: signer, timeoutMilliseconds: timeout)
        if outcomes.first(where: { $0.member.name == placer.name })?.reply == nil {
            printError("\(placer.name), which was to start the revived agents, did not take the revive: the switch is "
                       + "lifted where the revive was taken, but nothing starts them")
        }
        // A node that already took the revive from another's gossip says the agent is no longer
        // under the kill-switch: the state asked for holds there, so that is no failure.
        let anyAcknowledged = outcomes.contains { $0.reply != nil }
        let settled = outcomes.map { outcome -> FleetOutcome in
            guard anyAcknowledged, let message = outcome.refusal, message.contains("is not under the kill-switch") else { return outcome }
            var already = outcome
            already.result = .success(["ok": true, "node": .string(outcome.member.name), "already": .string(message)])
            return already
        }
        if !options.has("--json") {
            print("Revive at epoch \(epoch) for \(agents.joined(separator: ", ")):")
            for outcome in settled where outcome.reply?["already"] != nil {
                printError("\(outcome.member.name) had already heard of the revive from the others")
            }
        }
        try FanOutReport.finish(settled, json: options.has("--json"), what: "revive", ok: "acknowledged") { outcome in
            outcome.reply?["already"] != nil ? "already revived (heard from the others)" : nil
        }
    }

    /// Sends one request, signed once with epoch = counter, to every member.
    /// If a node refuses it as a replay (the counter file fell behind, or
    /// another kithctl's later counter overtook this one on the way), moves
    /// the counter past the highest the nodes accepted and issues it again to
    /// every node at the new epoch, which supersedes the old where it was taken.
    static func issueOnce(_ request: [String: JSON], to members: [FleetMember], signer: OperatorSigner,
                                  timeoutMilliseconds: Int) throws -> (epoch: UInt64, outcomes: [FleetOutcome]) {
        var attempt = 0
        var request = request
        if signer.cluster == nil, request["cluster"] == nil {
            // One signed request goes to every node: it names the cluster they say they form (the first that answers).
            let named = members.lazy.filter(\.isLive).compactMap {
                try? ControlClient(address: $0.control, timeoutMilliseconds: timeoutMilliseconds).clusterName()
            }.first
            guard let named else { throw Failure("no node answered to name its cluster; pass --cluster NAME") }
            request["cluster"] = .string(named)
        }
        while true {
            attempt += 1
            let counter: UInt64
            do {
                counter = try signer.nextCounter()
            } catch {
                throw Failure("\(error)")
            }
            var object = request
            object["epoch"] = .int(Int64(counter))
            let signed = signer.sign(.object(object), counter: counter)
            let outcomes = Fleet.broadcast(signed, to: members, signer: nil, timeoutMilliseconds: timeoutMilliseconds)
            let replayed = outcomes.compactMap { $0.refusal.flatMap(ControlClient.replayedCounter(in:)) }
            guard attempt < 3, let highest = replayed.max() else { return (counter, outcomes) }
            do {
                try signer.advanceCounter(past: highest)
            } catch {
                throw Failure("\(error)")
            }
        }
    }

    /// Names given as separate words or comma lists.
    static func names(_ words: [String]) -> [String] {
        words.flatMap { $0.split(separator: ",").map(String.init) }.filter { !$0.isEmpty }
    }

    // MARK: - halt / resume

    /// `halt [--json]`: every node heals its faults and freezes every relaunch.
    static func halt(_ arguments: [String], node: String?, key: OperatorKey) throws {
        try broadcast(arguments, node: node, key: key, command: "halt", request: ["cmd": "halt"], ok: "halted (faults healed, relaunches frozen)")
    }

    /// `resume [--json]`: relaunches allowed again.
    static func resume(_ arguments: [String], node: String?, key: OperatorKey) throws {
        try broadcast(arguments, node: node, key: key, command: "resume", request: ["cmd": "resume"], ok: "resumed")
    }

    private static func broadcast(_ arguments: [String], node: String?, key: OperatorKey, command: String, request: JSON,
                                  ok: String) throws {
        let options = try Arguments(arguments, switches: ["--json"])
        try options.expectPositionals([], command: command)
        let signer = try key.signer()
        let outcomes = Fleet.broadcast(request, to: try Fleet.discover(node), signer: signer, timeoutMilliseconds: Fleet.fanOutTimeout)
        try FanOutReport.finish(outcomes, json: options.has("--json"), what: command, ok: ok)
    }

    // MARK: - keys

    /// `keys generate | install ID --file FILE|- | use ID | remove ID` (the last three on every node).
    static func keys(_ arguments: [String], node: String?, key: OperatorKey) throws {
        let options = try Arguments(arguments, options: ["--file"], switches: ["--json"])
        guard let action = options.positionals.first else {
            throw UsageError("'keys' needs an action: generate, install, use or remove")
        }
        let rest = Array(options.positionals.dropFirst())
        if options.value("--file") != nil, action != "install" { throw UsageError("--file is for 'keys install' only") }
        let request: JSON
        let ok: String
        switch action {
        case "generate":
            guard rest.isEmpty else { throw UsageError("'keys generate' takes no arguments") }
            print(Hex.encode(ClusterKey.generate(id: 1).bytes))
            return
        case "install":
            try KeyInstall.run(rest, file: options.value("--file"), json: options.has("--json"), node: node, key: key)
            return
        case "use", "remove":
            guard rest.count == 1 else { throw UsageError("'keys \(action)' takes ID") }
            let id = try KeyInstall.keyID(rest[0])
            request = ["cmd": .string("keys_" + action), "id": .int(Int64(id))]
            ok = action == "use" ? "signs with key \(id)" : "removed key \(id)"
        default:
            throw UsageError("unknown keys action '\(action)' (generate, install, use or remove)")
        }
        let signer = try key.signer()
        let outcomes = Fleet.broadcast(request, to: try Fleet.discover(node), signer: signer, timeoutMilliseconds: Fleet.fanOutTimeout)
        try FanOutReport.finish(outcomes, json: options.has("--json"), what: "keys \(action)", ok: ok)
    }
}
