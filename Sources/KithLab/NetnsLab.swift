import Foundation
import KithControl
import Glibc
import KithCore
import KithReport

/// `lab up --netns` and the lab actions of such a lab: every daemon on its own
/// network namespace ("host"), joined by veth pairs to one bridge in the root
/// namespace, so faults are real packet drops (nftables) and link trouble (tc
/// netem) in the kernel, not frames the daemons choose to skip.
///
/// Layout of lab ID (6 hex digits) with subnet 10.77.0.0/24:
/// bridge `kith-brID` (10.77.0.254/24), namespaces `kith-ID-nI`, each with
/// `eth0` at 10.77.0.I/24 and `lo` up, whose peer `kith-ID-hI` sits on the
/// bridge; kithd nI listens on 10.77.0.I:7946 (gossip) and 10.77.0.I:7400
/// (control, reachable from the root namespace through the bridge).
package enum NetnsLab: LabKind {
    package static let gossipPort = 7946
    package static let controlPort = 7400
    package static let httpPort = 7480
    /// The device name of each namespace's veth end.
    package static let device = "eth0"
    /// Linux's limit on interface names (IFNAMSIZ - 1).
    package static let interfaceNameLimit = 15

    package static func isRecorded(in directory: String) -> Bool {
        NetnsLabRecord.isNetns(directory)
    }

    package static func requireRoot(_ command: String) throws {
        guard geteuid() == 0 else { throw Failure("\(command) needs root (network namespaces)") }
    }

    /// The netns lab in `directory`, or a failure saying what is there instead.
    package static func record(in directory: String, for command: String) throws -> NetnsLabRecord {
        if let record = try NetnsLabRecord.load(from: directory) { return record }
        if try LabRecord.load(from: directory) != nil {
            throw Failure("'\(command)' works on a lab started with 'kithctl lab up --netns'; the lab in \(directory) runs on"
                          + " 127.0.0.1 (there, 'kithctl partition A / B', 'delay' and 'loss' have the daemons drop frames themselves)")
        }
        throw Failure("no lab recorded in \(directory) (start one with 'kithctl lab up --netns')")
    }

    // MARK: up

    /// Records the plan, builds bridge, namespaces and veths, starts one kithd
    /// per namespace and waits as `LocalLab.up` does. On any failure (or
    /// Ctrl-C) everything created so far is removed again.
    package static func up(count: Int, directory: String, kithd: String, agents: LocalLab.LabAgents?, subnet requested: NetnsSubnet?,
                   relaunchQuorum: String? = nil, key: OperatorKey) throws {
        let list = try NetnsTools.run(["ip", "netns", "list"])
        guard list.succeeded else { throw Failure("'ip netns' does not work here: \(list.output)") }
        _ = try NetnsTools.path("nft")
        if NetnsLabRecord.isNetns(directory) {
            throw Failure("a netns lab is recorded in \(directory); run 'kithctl lab down' first")
        }
        let signer = try LocalLab.prepareUp(in: directory, key: key)
        let ip = try NetnsTools.path("ip")

        // Pick an unused id and subnet and claim them (record, then bridge with its address) under a host-wide lock.
        var record = try NetnsTools.withHostLock {
            let subnet = try chooseSubnet(requested, count: count)
            var record = try plan(count: count, directory: directory, kithd: kithd, signer: signer,
                                  id: try freshID(), subnet: subnet)
            record.lab.setRelaunchQuorum(relaunchQuorum)
            try record.save(to: directory)
            do {
                try createBridge(record.network)
            } catch {
                cleanUpAfterFailedUp(record, directory: directory)
                throw error
            }
            return record
        }
        KnownNodes.forget(record.lab.nodes.map(\.name))
        do {
            for host in record.network.hosts {
                try Interrupt.check()
                try createHost(host, network: record.network)
            }
            for index in record.lab.nodes.indices {
                record.lab.nodes[index].pid = try launch(record.lab.nodes[index], in: record.network.hosts[index], kithd: kithd, ip: ip)
                try record.save(to: directory)
            }
            try LocalLab.waitUntilAnswering(record.lab.nodes)
            let nodes = record.lab.nodes
            do {
                try Views.waitConverged(nodes, timeout: LocalLab.agentsTimeout) {
                    for node in nodes { try LabLayout.checkStillRunning(node) }
                }
            } catch let failure as Failure {
                throw Failure("\(failure.description)\nIf this host filters bridged traffic (br_netfilter with a FORWARD drop"
                              + " policy, as Docker sets), allow \(record.network.bridge).")
            }
            if let agents {
                let planned = AgentRing.plan(nodes, perNode: agents.perNode, policy: agents.policy, kithAgent: agents.kithAgent)
                try AgentRing.start(planned, signer: signer)
                _ = try AgentViews.waitRunning(Set(planned.map(\.name)), at: nodes[0].control, timeout: LocalLab.agentsTimeout) {
                    for node in nodes { try LabLayout.checkStillRunning(node) }
                }
            }
        } catch {
            for node in record.lab.nodes where node.pid > 0 {
                kill(node.pid, SIGKILL)
                waitpid(node.pid, nil, 0)
            }
            Processes.killAgents(under: directory)
            cleanUpAfterFailedUp(record, directory: directory)
            throw error
        }
        let network = record.network
        print("Netns lab \(network.id) of \(count) nodes running in \(directory):")
        print("bridge \(network.bridge) \(network.gateway)/\(network.prefix); namespaces \(network.prefixName)n1..n\(count).")
        print(nodeTable(record, agents: nil), terminator: "")
        if let agents {
            print("\(agents.perNode * count) agents running (\(agents.perNode) per node, policy \(agents.policy));"
                  + " each node's agents protect the next node's. See them with 'kithctl agents'.")
        }
        print("kithctl reaches them from here: kithctl --node \(record.lab.nodes[0].control) members."
              + " Cut the network with 'kithctl lab partition n1,n2 / n3,...', heal with 'kithctl lab heal'.")
        if directory != LabRecord.defaultDirectory() {
            print("Other commands find it with --dir \(directory) or KITH_LAB_DIR=\(directory).")
        }
    }

    /// Removes what a failed `lab up` created; the record stays if something could not be removed.
    private static func cleanUpAfterFailedUp(_ record: NetnsLabRecord, directory: String) {
        let problems = removeNetwork(record.network, directory: directory)
        let leftovers = self.leftovers(record.network)
        if problems.isEmpty && leftovers.isEmpty {
            try? LabRecord.remove(from: directory)
        } else {
            printError("kithctl: could not remove everything the failed lab created (\((problems + leftovers).joined(separator: "; ")));"
                       + " 'kithctl lab down --dir \(directory)' retries")
        }
    }

    /// Six hex digits no namespace or interface of this host uses yet.
    private static func freshID() throws -> String {
        let namespaces = NetnsTools.namespaces()
        let links = NetnsTools.links()
        for _ in 0..<100 {
            let id = String(format: "%06x", UInt32.random(in: 0...0xff_ffff))
            let prefix = "kith-\(id)-"
            if !namespaces.contains(where: { $0.hasPrefix(prefix) }) && !links.contains(where: { $0.hasPrefix(prefix) })
                && !links.contains("kith-br\(id)") {
                return id
            }
        }
        throw Failure("cannot find an unused lab id")
    }

    /// `requested`, unless it collides with an address of the root namespace; else
    /// the first free /24 from 10.77.0.0/24 on, so labs side by side never share one.
    private static func chooseSubnet(_ requested: NetnsSubnet?, count: Int) throws -> NetnsSubnet {
        let used = NetnsTools.rootAddresses()
        func clash(_ subnet: NetnsSubnet) -> String? {
            used.first { subnet.overlaps($0.address, prefix: $0.prefix) }.map { "\(NetnsSubnet.format($0.address))/\($0.prefix)" }
        }
        if let requested {
            guard requested.capacity >= count else {
                throw Failure("subnet \(requested) has room for \(requested.capacity) nodes and the bridge, not \(count)")
            }
            if let clash = clash(requested) {
                throw Failure("subnet \(requested) overlaps \(clash), already on an interface here (another lab?); pick another with --subnet")
            }
            return requested
        }
        var candidate: NetnsSubnet? = try NetnsSubnet(parsing: NetnsSubnet.defaultText)
        for _ in 0..<256 {
            guard let subnet = candidate else { break }
            if clash(subnet) == nil { return subnet }
            candidate = subnet.next
        }
        throw Failure("no free /24 from \(NetnsSubnet.defaultText) on; pass --subnet")
    }

    /// Names, addresses and kithd arguments of every node; nothing is created yet.
    private static func plan(count: Int, directory: String, kithd: String, signer: OperatorSigner,
                             id: String, subnet: NetnsSubnet) throws -> NetnsLabRecord {
        let operatorKey = signer.publicKeyHex
        let addresses = (0..<count).map { NetnsSubnet.format(subnet.node($0)) }
        let listens = addresses.map { "\($0):\(gossipPort)" }
        var nodes: [LabNode] = []
        var hosts: [NetnsHost] = []
        let security = try LabSecurity.arguments(insecure: false, directory: directory)
        for index in 0..<count {
            let name = "n\(index + 1)"
            let dataDir = directory + "/" + name
            let control = "\(addresses[index]):\(controlPort)"
            let seeds = listens.prefix(LabLayout.seedCount).filter { $0 != listens[index] }
            var args = ["--name", name, "--listen", listens[index], "--control", control, "--data-dir", dataDir,
                        "--http", "\(addresses[index]):\(httpPort)"]
            if !seeds.isEmpty { args += ["--join", seeds.joined(separator: ",")] }
            args += ["--operator-key", operatorKey] + security
            args += try LabSecurity.certify(node: name, dataDir: dataDir, security: security, signer: signer)
            nodes.append(LabNode(name: name, pid: 0, listen: listens[index], control: control, dataDir: dataDir, args: args))
            hosts.append(NetnsHost(node: name, namespace: "kith-\(id)-\(name)", veth: "kith-\(id)-h\(index + 1)",
                                   device: device, address: addresses[index]))
        }
        let network = NetnsNetwork(id: id, subnet: subnet.description, bridge: "kith-br\(id)",
                                   gateway: NetnsSubnet.format(subnet.gateway), prefix: subnet.prefix, hosts: hosts)
        for name in [network.bridge] + hosts.map(\.veth) where name.utf8.count > interfaceNameLimit {
            throw Failure("interface name \(name) is longer than \(interfaceNameLimit) characters")
        }
        return NetnsLabRecord(lab: LabRecord(kithd: kithd, nodes: nodes, operatorKey: operatorKey), network: network)
    }

    private static func createBridge(_ network: NetnsNetwork) throws {
        try NetnsTools.must(["ip", "link", "add", network.bridge, "type", "bridge"])
        try NetnsTools.must(["ip", "addr", "add", "\(network.gateway)/\(network.prefix)", "dev", network.bridge])
        try NetnsTools.must(["ip", "link", "set", network.bridge, "up"])
        try NetnsForwarding.allow(network.bridge)
    }

    /// A namespace with `lo` up and `eth0` at the host's address, its peer on the bridge.
    private static func createHost(_ host: NetnsHost, network: NetnsNetwork) throws {
        try NetnsTools.must(["ip", "netns", "add", host.namespace])
        try NetnsTools.must(["ip", "link", "add", host.veth, "type", "veth", "peer", "name", host.device, "netns", host.namespace])
        try NetnsTools.must(["ip", "link", "set", host.veth, "master", network.bridge, "up"])
        try NetnsTools.must(["ip", "-n", host.namespace, "addr", "add", "\(host.address)/\(network.prefix)", "dev", host.device])
        try NetnsTools.must(["ip", "-n", host.namespace, "link", "set", host.device, "up"])
        try NetnsTools.must(["ip", "-n", host.namespace, "link", "set", "lo", "up"])
    }

    /// `ip netns exec NS kithd ARGS`: ip enters the namespace and execs kithd in
    /// place, so the pid is the daemon's and its command line names its data directory.
    private static func launch(_ node: LabNode, in host: NetnsHost, kithd: String, ip: String, appendingToLog: Bool = false) throws -> Int32 {
        // 0700 as kithd wants it: it refuses a data directory others may write to.
        try FileManager.default.createDirectory(atPath: node.dataDir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        return try Processes.spawn(ip, arguments: ["netns", "exec", host.namespace, kithd] + node.args,
                                   logPath: node.logPath, appending: appendingToLog)
    }

    // MARK: status

    package static func status(directory: String, json: Bool) throws {
        let record = try record(in: directory, for: "lab status")
        let network = record.network
        let agents = agentsRunning(record.lab)
        let namespaces = NetnsTools.namespaces()
        if json {
            let nodes: [JSON] = zip(record.lab.nodes, network.hosts).map { node, host in
                let state = Processes.state(of: node.pid, dataDir: node.dataDir)
                var entry: [String: JSON] = [
                    "name": .string(node.name), "pid": .int(Int64(node.pid)), "listen": .string(node.listen),
                    "control": .string(node.control), "running": .bool(state == .running), "state": .string(state.rawValue),
                    "namespace": .string(host.namespace), "address": .string(host.address), "veth": .string(host.veth),
                    "namespace_present": .bool(namespaces.contains(host.namespace)),
                ]
                if let http = node.http { entry["http"] = .string(http) }
                if let agents { entry["agents"] = .int(Int64(agents[node.name] ?? 0)) }
                return .object(entry)
            }
            var object: [String: JSON] = ["nodes": .array(nodes), "netns": network.json]
            if let quorum = record.lab.relaunchQuorum { object["relaunch_quorum"] = .string(quorum) }
            print(JSON.object(object).serialized(pretty: true))
            return
        }
        print(nodeTable(record, agents: agents), terminator: "")
        if let quorum = record.lab.relaunchQuorum { print("Relaunch quorum: \(quorum).") }
        let bridgeUp = NetnsTools.links().contains(network.bridge)
        print("Lab \(network.id): bridge \(network.bridge) \(network.gateway)/\(network.prefix)\(bridgeUp ? "" : " (missing)"), subnet \(network.subnet).")
        print(network.partitions.isEmpty ? "No partition."
              : "Partitioned (nftables table inet \(NetnsNetwork.partitionTable)): "
                + network.partitions.map(\.description).joined(separator: "; ") + ".")
        if network.impairments.isEmpty {
            print("No netem.")
        } else {
            for impairment in network.impairments { print("netem \(impairment.node): \(impairment.description)") }
        }
    }

    /// Node → running agents, as the first answering node sees them; nil if none answers.
    private static func agentsRunning(_ lab: LabRecord) -> [String: Int]? {
        for node in lab.nodes where Processes.state(of: node.pid, dataDir: node.dataDir) == .running {
            guard let agents = try? AgentViews.records(at: node.control, timeoutMilliseconds: 500) else { continue }
            var running: [String: Int] = [:]
            for agent in agents where agent["state"]?.stringValue == "running" {
                if let host = agent["node"]?.stringValue { running[host, default: 0] += 1 }
            }
            return running
        }
        return nil
    }

    private static func nodeTable(_ record: NetnsLabRecord, agents: [String: Int]?) -> String {
        let namespaces = NetnsTools.namespaces()
        let rows = zip(record.lab.nodes, record.network.hosts).map { node, host in
            [node.name, String(node.pid), Processes.state(of: node.pid, dataDir: node.dataDir).rawValue,
             host.namespace + (namespaces.contains(host.namespace) ? "" : " (missing)"), host.address, node.listen, node.control]
                + (agents.map { [String($0[node.name] ?? 0)] } ?? [])
        }
        let header = ["NAME", "PID", "STATE", "NAMESPACE", "ADDRESS", "LISTEN", "CONTROL"] + (agents == nil ? [] : ["AGENTS"])
        return Table.render(header: header, rows: rows)
    }

    // MARK: start

    /// Starts a stopped or killed node again in its namespace, with its recorded arguments.
    package static func start(_ name: String, directory: String) throws {
        try requireRoot("lab start in a netns lab")
        var record = try record(in: directory, for: "lab start")
        let index = try record.lab.index(of: name)
        let node = record.lab.nodes[index]
        guard Processes.state(of: node.pid, dataDir: node.dataDir) == .dead else {
            throw Failure("\(name) is already running (pid \(node.pid)); 'kithctl lab kill \(name)' first")
        }
        let host = try record.network.host(name)
        guard NetnsTools.namespaces().contains(host.namespace) else {
            throw Failure("namespace \(host.namespace) is gone; 'kithctl lab down' and 'lab up --netns' again")
        }
        Interrupt.install()
        record.lab.nodes[index].pid = try launch(node, in: host, kithd: record.lab.kithd, ip: try NetnsTools.path("ip"), appendingToLog: true)
        try record.save(to: directory)
        try LocalLab.waitUntilAnswering([record.lab.nodes[index]])
        print("Started \(name) (pid \(record.lab.nodes[index].pid)) in \(host.namespace).")
    }

    // MARK: down

    /// Stops the daemons (SIGTERM, SIGKILL after `LocalLab.stopTimeout`) and
    /// their agents, then deletes nft tables, qdiscs, veths, namespaces and the
    /// bridge, also any leftover of this lab's id that the record missed.
    /// Idempotent: what is already gone is skipped. The record is removed only
    /// once nothing is left, so a failed `lab down` can be retried.
    package static func down(directory: String) throws {
        try requireRoot("lab down of a netns lab")
        guard let record = try NetnsLabRecord.load(from: directory) else {
            print("No lab recorded in \(directory); nothing to stop.")
            return
        }
        // The recorded pids, and any daemon of this lab whose pid a crashed `lab up` never recorded.
        var nodes = record.lab.nodes
        for index in nodes.indices where Processes.state(of: nodes[index].pid, dataDir: nodes[index].dataDir) == .dead {
            if let pid = daemonPid(dataDir: nodes[index].dataDir) { nodes[index].pid = pid }
        }
        let running = nodes.filter { Processes.state(of: $0.pid, dataDir: $0.dataDir) != .dead }
        for node in running {
            Processes.send(SIGCONT, to: node.pid, dataDir: node.dataDir)
            Processes.send(SIGTERM, to: node.pid, dataDir: node.dataDir)
        }
        let start = Waiting.clock.now
        var remaining = running
        while !remaining.isEmpty && Waiting.milliseconds(since: start) < LocalLab.stopTimeout * 1000 {
            usleep(20_000)
            remaining.removeAll { Processes.state(of: $0.pid, dataDir: $0.dataDir) == .dead }
        }
        for node in remaining {
            Processes.send(SIGKILL, to: node.pid, dataDir: node.dataDir)
        }
        Processes.killAgents(under: directory)
        // Whatever else still runs inside the lab's namespaces (nothing should) goes too.
        let namespaces = NetnsTools.namespaces()
        for host in record.network.hosts where namespaces.contains(host.namespace) {
            guard let pids = try? NetnsTools.run(["ip", "netns", "pids", host.namespace]), pids.succeeded else { continue }
            for pid in pids.output.split(separator: "\n").compactMap({ Int32($0) }) where pid > 1 && pid != getpid() {
                kill(pid, SIGKILL)
            }
        }
        for node in record.lab.nodes {
            let outcome = !running.contains { $0.name == node.name } ? "was not running"
                : remaining.contains { $0.name == node.name } ? "killed (did not stop within \(Int(LocalLab.stopTimeout)) s)" : "stopped"
            print("\(node.name): \(outcome)")
        }
        let network = record.network
        let problems = removeNetwork(network, directory: directory)
        let leftovers = self.leftovers(network)
        guard leftovers.isEmpty else {
            throw Failure("could not remove \(leftovers.joined(separator: ", ")): \(problems.joined(separator: "; "));"
                          + " the record stays in \(directory) so 'kithctl lab down' can retry")
        }
        try LabRecord.remove(from: directory)
        print("Removed lab \(network.id): \(network.hosts.count) namespaces and veth pairs, bridge \(network.bridge)"
              + (network.nftTables.isEmpty ? "" : ", \(network.nftTables.count) nft tables")
              + (network.qdiscs.isEmpty ? "" : ", \(network.qdiscs.count) qdiscs") + ".")
    }

    /// The pid of a running daemon started with `--data-dir dataDir`, found in /proc.
    package static func daemonPid(dataDir: String) -> Int32? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if let flag = arguments.firstIndex(of: "--data-dir"), flag + 1 < arguments.count, arguments[flag + 1] == dataDir,
               Processes.state(of: pid, dataDir: dataDir) != .dead {
                return pid
            }
        }
        return nil
    }

    /// Deletes everything of `network` that still exists, most specific first;
    /// returns what failed for a reason other than being gone already.
    package static func removeNetwork(_ network: NetnsNetwork, directory: String) -> [String] {
        var problems: [String] = []
        let namespaces = NetnsTools.namespaces()
        let nft = (try? NetnsTools.path("nft")) ?? "nft"
        var tables = Set(network.nftTables)
        var qdiscs = Set(network.qdiscs)
        for host in network.hosts {
            tables.insert("\(host.namespace) inet \(NetnsNetwork.partitionTable)")
            tables.insert("\(host.namespace) inet \(NetnsNetwork.lossTable)")
        }
        for impairment in network.impairments where impairment.mechanism == NetnsLabFaults.tcMechanism {
            if let host = try? network.host(impairment.node) { qdiscs.insert("\(host.namespace) \(host.device)") }
        }
        for table in tables.sorted() {
            let fields = table.split(separator: " ").map(String.init)
            guard fields.count == 3, namespaces.contains(fields[0]) else { continue }
            if let problem = NetnsTools.remove(["ip", "netns", "exec", fields[0], nft, "delete", "table", fields[1], fields[2]]) {
                problems.append(problem)
            }
        }
        for qdisc in qdiscs.sorted() {
            let fields = qdisc.split(separator: " ").map(String.init)
            guard fields.count == 2, namespaces.contains(fields[0]) else { continue }
            if let problem = NetnsTools.remove(["tc", "-n", fields[0], "qdisc", "del", "dev", fields[1], "root"]) { problems.append(problem) }
        }
        let links = NetnsTools.links()
        for veth in Set(network.hosts.map(\.veth)).union(links.filter { $0.hasPrefix(network.prefixName) }).sorted()
        where links.contains(veth) {
            if let problem = NetnsTools.remove(["ip", "link", "del", veth]) { problems.append(problem) }
        }
        for namespace in Set(network.hosts.map(\.namespace)).union(namespaces.filter { $0.hasPrefix(network.prefixName) }).sorted()
        where namespaces.contains(namespace) {
            if let problem = NetnsTools.remove(["ip", "netns", "del", namespace]) { problems.append(problem) }
        }
        if NetnsTools.links().contains(network.bridge) {
            if let problem = NetnsTools.remove(["ip", "link", "del", network.bridge]) { problems.append(problem) }
        }
        if let problem = NetnsForwarding.remove(network.bridge) { problems.append(problem) }
        return problems
    }

    /// Namespaces and interfaces of this lab that still exist.
    package static func leftovers(_ network: NetnsNetwork) -> [String] {
        let namespaces = NetnsTools.namespaces().filter { $0.hasPrefix(network.prefixName) }.map { "namespace \($0)" }
        let links = NetnsTools.links().filter { $0.hasPrefix(network.prefixName) || $0 == network.bridge }.map { "interface \($0)" }
        return (namespaces + links).sorted()
    }
}
