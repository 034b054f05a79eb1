import Foundation
import Glibc
import KithCore

/// `lab partition`, `lab heal` and `lab netem` for a netns lab: faults in the
/// kernel of each namespace, which the daemons cannot see or lift. Each change
/// is recorded in lab.json before it is applied, so `lab down` finds it.
package enum NetnsLabFaults {
    package static let tcMechanism = "tc-netem"
    package static let nftMechanism = "nftables"
    /// Delay by kithd's own fault filter (the signed `fault` control command), for kernels without netem.
    package static let kithdMechanism = "kithd"
    /// How long the kithd delay fallback lasts unless `lab netem --clear` ends it sooner.
    package static let kithdDelayMilliseconds = 3_600_000

    // MARK: partition and heal

    /// Drops, in each namespace, packets from and to the other group's
    /// addresses (an `inet kith` table with input and output chains); with
    /// `oneway` only the left group's packets to the right group. Partitions add
    /// up until `lab heal`. Control traffic from the root namespace (the bridge
    /// address) is never dropped.
    package static func partition(left: [String], right: [String], oneway: Bool, directory: String) throws {
        var record = try NetnsLab.record(in: directory, for: "lab partition")
        try NetnsLab.requireRoot("lab partition")
        let network = record.network
        let leftHosts = try left.map(network.host)
        let rightHosts = try right.map(network.host)
        // Per namespace: addresses whose packets are dropped on the way out, and on the way in.
        var drops: [String: (output: [String], input: [String])] = [:]
        func drop(at hosts: [NetnsHost], output: [NetnsHost], input: [NetnsHost]) {
            for host in hosts {
                drops[host.namespace, default: ([], [])].output += output.map(\.address)
                drops[host.namespace, default: ([], [])].input += input.map(\.address)
            }
        }
        drop(at: leftHosts, output: rightHosts, input: oneway ? [] : rightHosts)
        drop(at: rightHosts, output: oneway ? [] : leftHosts, input: leftHosts)

        record.network.partitions.append(NetnsPartition(left: left, right: right, oneway: oneway))
        for namespace in drops.keys.sorted() {
            let table = "\(namespace) inet \(NetnsNetwork.partitionTable)"
            if !record.network.nftTables.contains(table) { record.network.nftTables.append(table) }
        }
        try record.save(to: directory)
        let name = NetnsNetwork.partitionTable
        for (namespace, drop) in drops.sorted(by: { $0.key < $1.key }) {
            var script = """
                add table inet \(name)
                add chain inet \(name) input { type filter hook input priority 0; policy accept; }
                add chain inet \(name) output { type filter hook output priority 0; policy accept; }

                """
            if !drop.input.isEmpty { script += "add rule inet \(name) input ip saddr { \(drop.input.joined(separator: ", ")) } counter drop\n" }
            if !drop.output.isEmpty { script += "add rule inet \(name) output ip daddr { \(drop.output.joined(separator: ", ")) } counter drop\n" }
            try NetnsTools.nft(script, in: namespace, scratch: directory)
        }
        print("Partitioned \(left.joined(separator: ",")) \(oneway ? "->" : "/") \(right.joined(separator: ",")):"
              + " nftables drop \(oneway ? "the left group's packets to the right group" : "packets between the groups")"
              + " in \(drops.count) namespaces. 'kithctl lab heal' removes it.")
    }

    /// Deletes the partition table in every namespace.
    package static func heal(directory: String) throws {
        var record = try NetnsLab.record(in: directory, for: "lab heal")
        try NetnsLab.requireRoot("lab heal")
        let namespaces = NetnsTools.namespaces()
        let nft = try NetnsTools.path("nft")
        var problems: [String] = []
        for host in record.network.hosts where namespaces.contains(host.namespace) {
            if let problem = NetnsTools.remove(["ip", "netns", "exec", host.namespace, nft, "delete", "table", "inet", NetnsNetwork.partitionTable]) {
                problems.append(problem)
            }
        }
        let healed = record.network.partitions
        guard problems.isEmpty else { throw Failure("heal failed: \(problems.joined(separator: "; "))") }
        record.network.partitions = []
        record.network.nftTables.removeAll { $0.hasSuffix(" inet \(NetnsNetwork.partitionTable)") }
        try record.save(to: directory)
        print(healed.isEmpty ? "No partition to heal; checked every namespace."
              : "Healed \(healed.map(\.description).joined(separator: "; ")): partition rules removed from every namespace.")
        if !record.network.impairments.isEmpty {
            print("netem stays on \(record.network.impairments.map(\.node).joined(separator: ", ")) ('kithctl lab netem all --clear').")
        }
    }

    // MARK: netem

    private static func targets(_ target: String, _ network: NetnsNetwork) throws -> [NetnsHost] {
        target == "all" ? network.hosts : [try network.host(target)]
    }

    /// tc netem on each target's `eth0` (its egress: everything the node sends).
    /// Kernels without netem get loss from nftables instead (a share of the
    /// packets the node sends, bridge address spared), and delay from kithd's
    /// own fault filter (each target holds its frames to every other lab node).
    package static func netem(_ target: String, delay: Int?, jitter: Int?, loss: Double?, directory: String, key: OperatorKey) throws {
        var record = try NetnsLab.record(in: directory, for: "lab netem")
        try NetnsLab.requireRoot("lab netem")
        let hosts = try targets(target, record.network)
        var mechanism = tcMechanism
        var why = ""
        for (position, host) in hosts.enumerated() {
            let qdisc = "\(host.namespace) \(host.device)"
            record.network.impairments.removeAll { $0.node == host.node }
            if mechanism == tcMechanism {
                if !record.network.qdiscs.contains(qdisc) { record.network.qdiscs.append(qdisc) }
                record.network.impairments.append(NetnsImpairment(node: host.node, mechanism: tcMechanism, delayMilliseconds: delay,
                                                                  jitterMilliseconds: jitter, lossPercent: loss))
                try record.save(to: directory)
                let outcome = try applyTC(host, delay: delay, jitter: jitter, loss: loss)
                if outcome.succeeded { continue }
                guard position == 0, netemMissing(outcome) else {
                    throw Failure("tc netem on \(host.node) failed: \(outcome.output)")
                }
                // No netem in this kernel: undo the record, then loss by nftables or a clear refusal.
                record.network.qdiscs.removeAll { $0 == qdisc }
                record.network.impairments.removeAll { $0.node == host.node }
                try record.save(to: directory)
                if let delay {
                    guard loss == nil else {
                        throw Failure("this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM, module sch_netem): tc says '\(outcome.output)'."
                                      + " Without it --delay falls back to kithd's delay fault and --loss alone to nftables; not both at once")
                    }
                    try kithdDelay(hosts, delay: delay, jitter: jitter, record: &record, directory: directory, key: key)
                    print("netem on \(hosts.map(\.node).joined(separator: ", ")): delay \(delay) ms" + (jitter.map { " ± \($0) ms" } ?? "")
                          + " by kithd (this kernel has no netem qdisc, so each of these daemons holds its own frames to the other lab"
                          + " nodes, for up to \(kithdDelayMilliseconds / 60_000) min). 'kithctl lab netem \(target) --clear' removes it.")
                    return
                }
                guard loss != nil else { throw Failure("tc netem on \(host.node) failed: \(outcome.output)") }
                mechanism = nftMechanism
                why = ": this kernel has no netem qdisc"
            }
            let table = "\(host.namespace) inet \(NetnsNetwork.lossTable)"
            if !record.network.nftTables.contains(table) { record.network.nftTables.append(table) }
            record.network.impairments.append(NetnsImpairment(node: host.node, mechanism: nftMechanism, delayMilliseconds: nil,
                                                              jitterMilliseconds: nil, lossPercent: loss))
            try record.save(to: directory)
            try applyNftLoss(host, loss: loss ?? 0, gateway: record.network.gateway, directory: directory)
        }
        let description = NetnsImpairment(node: "", mechanism: mechanism, delayMilliseconds: delay, jitterMilliseconds: jitter,
                                          lossPercent: loss).description
        print("netem on \(hosts.map(\.node).joined(separator: ", ")): \(description.dropLast())\(why)). 'kithctl lab netem \(target) --clear' removes it.")
    }

    /// The fallback for `--delay` without netem: the signed `fault` command on
    /// each target, delaying its frames to every other node of the lab.
    private static func kithdDelay(_ hosts: [NetnsHost], delay: Int, jitter: Int?, record: inout NetnsLabRecord, directory: String,
                                   key: OperatorKey) throws {
        guard delay > 0 else { throw UsageError("without netem, --delay must be at least 1 ms (kithd's delay fault)") }
        let signer = try key.signer()
        let names = record.lab.nodes.map(\.name)
        var earlier: [FleetMember] = []
        var requests: [(FleetMember, JSON)] = []
        for host in hosts {
            let node = record.lab.nodes[try record.lab.index(of: host.node)]
            let member = FleetMember(name: node.name, control: node.control, state: "alive")
            // A delay set by an earlier fallback would add up with the new one: heal it first.
            if record.network.impairments.contains(where: { $0.node == host.node && $0.mechanism == kithdMechanism }) {
                earlier.append(member)
            }
            record.network.impairments.removeAll { $0.node == host.node }
            record.network.impairments.append(NetnsImpairment(node: host.node, mechanism: kithdMechanism, delayMilliseconds: delay,
                                                              jitterMilliseconds: jitter, lossPercent: nil))
            let others = names.filter { $0 != host.node }
            guard !others.isEmpty else { continue }
            requests.append((member, ["cmd": "fault", "delay": .array(others.map(JSON.string)), "ms": .int(Int64(delay)),
                                      "jitter_ms": .int(Int64(jitter ?? 0)), "for_ms": .int(Int64(kithdDelayMilliseconds))]))
        }
        try record.save(to: directory)
        if !earlier.isEmpty {
            _ = Fleet.broadcast(["cmd": "heal"], to: earlier, signer: signer, timeoutMilliseconds: Fleet.fanOutTimeout)
        }
        let failed = Fleet.send(requests, signer: signer, timeoutMilliseconds: Fleet.fanOutTimeout).filter { $0.reply == nil }
        guard failed.isEmpty else {
            throw Failure("this kernel has no netem qdisc, and kithd's delay fault could not be set on "
                          + failed.map { $0.line() }.joined(separator: "; ") + "; 'kithctl lab netem ... --clear' clears what was set")
        }
    }

    private static func applyTC(_ host: NetnsHost, delay: Int?, jitter: Int?, loss: Double?) throws -> NetnsTools.Outcome {
        var argv = ["tc", "-n", host.namespace, "qdisc", "replace", "dev", host.device, "root", "netem"]
        if let delay { argv += ["delay", "\(delay)ms"] + (jitter.map { ["\($0)ms"] } ?? []) }
        if let loss { argv += ["loss", "\(NetnsImpairment.percent(loss))%"] }
        var outcome: NetnsTools.Outcome
        do {
            outcome = try NetnsTools.run(argv)
        } catch {
            return NetnsTools.Outcome(status: 127, output: "\(error)")
        }
        // A kernel with netem as a module that is not loaded yet: load it once and retry.
        if netemMissing(outcome), (try? NetnsTools.run(["modprobe", "sch_netem"]))?.succeeded == true {
            outcome = try NetnsTools.run(argv)
        }
        return outcome
    }

    private static func netemMissing(_ outcome: NetnsTools.Outcome) -> Bool {
        outcome.output.contains("qdisc kind is unknown") || outcome.output.contains("cannot find 'tc'")
    }

    /// Replaces the namespace's loss table: drop `loss`% of outgoing packets, except to the bridge address.
    private static func applyNftLoss(_ host: NetnsHost, loss: Double, gateway: String, directory: String) throws {
        let name = NetnsNetwork.lossTable
        let basisPoints = Int((loss * 100).rounded())
        let script = """
            add table inet \(name)
            delete table inet \(name)
            add table inet \(name)
            add chain inet \(name) output { type filter hook output priority 0; policy accept; }
            add rule inet \(name) output ip daddr != \(gateway) numgen random mod 10000 < \(basisPoints) counter drop

            """
        try NetnsTools.nft(script, in: host.namespace, scratch: directory)
    }

    /// Removes netem (qdisc or loss table) from the targets.
    package static func clear(_ target: String, directory: String, key: OperatorKey) throws {
        var record = try NetnsLab.record(in: directory, for: "lab netem")
        try NetnsLab.requireRoot("lab netem")
        let hosts = try targets(target, record.network)
        let namespaces = NetnsTools.namespaces()
        let nft = try NetnsTools.path("nft")
        var problems: [String] = []
        for host in hosts where namespaces.contains(host.namespace) {
            if (try? NetnsTools.path("tc")) != nil,
               let problem = NetnsTools.remove(["tc", "-n", host.namespace, "qdisc", "del", "dev", host.device, "root"]) {
                problems.append(problem)
            }
            if let problem = NetnsTools.remove(["ip", "netns", "exec", host.namespace, nft, "delete", "table", "inet", NetnsNetwork.lossTable]) {
                problems.append(problem)
            }
        }
        // Delays kithd applies itself (no netem here): the signed heal command on those nodes.
        let kithdNodes = Set(record.network.impairments.filter { $0.mechanism == kithdMechanism }.map(\.node))
        let healed = record.lab.nodes.filter { node in hosts.contains { $0.node == node.name } && kithdNodes.contains(node.name) }
        if !healed.isEmpty {
            let members = healed.map { FleetMember(name: $0.name, control: $0.control, state: "alive") }
            let outcomes = Fleet.broadcast(["cmd": "heal"], to: members, signer: try key.signer(),
                                           timeoutMilliseconds: Fleet.fanOutTimeout)
            for outcome in outcomes where outcome.reply == nil {
                // A daemon that is not running has lost its faults with it.
                guard let node = healed.first(where: { $0.name == outcome.member.name }),
                      Processes.state(of: node.pid, dataDir: node.dataDir) != .dead else { continue }
                problems.append("kithd heal: \(outcome.line())")
            }
        }
        guard problems.isEmpty else { throw Failure("netem --clear failed: \(problems.joined(separator: "; "))") }
        let cleared = Set(hosts.map(\.node))
        let namespacesCleared = Set(hosts.map(\.namespace))
        record.network.impairments.removeAll { cleared.contains($0.node) }
        record.network.qdiscs.removeAll { namespacesCleared.contains(String($0.split(separator: " ")[0])) }
        record.network.nftTables.removeAll {
            $0.hasSuffix(" inet \(NetnsNetwork.lossTable)") && namespacesCleared.contains(String($0.split(separator: " ")[0]))
        }
        try record.save(to: directory)
        print("netem cleared on \(hosts.map(\.node).joined(separator: ", "))"
              + (healed.isEmpty ? "." : " (kithd's delay fault healed on \(healed.map(\.name).joined(separator: ", ")))."))
    }
}
