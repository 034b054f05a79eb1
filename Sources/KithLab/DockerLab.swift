import Foundation
import Glibc
import KithCore
import KithCrypto
import KithReport

/// `lab up --docker` and the lab actions of such a lab: one container per
/// daemon (the Kith image, its entrypoint, secrets and healthcheck) in a
/// compose project with its own bridge network and fixed addresses. Each
/// container's network namespace is attached under a name (`ip netns
/// attach`), and `lab.json` is a netns record of those names, so partitions
/// (nftables), netem and every cluster command work as on a netns lab, from
/// the host and without any capability in the containers; `lab kill`,
/// `pause`, `resume`, `stop`, `start` and `down` go through the engine.
///
/// Layout of lab ID (6 hex digits) with subnet 10.88.0.0/24: compose project
/// and network bridge `kith-dkID`, containers `kith-ID-nI` at 10.88.0.I
/// (gossip :7946, control :7400, HTTP :7480), gateway 10.88.0.254 (the host),
/// namespaces `kith-ID-nI`, data directories DIR/nI mounted at the same path.
package enum DockerLab: LabKind {
    /// Where a container lab's subnets start, clear of the netns labs' 10.77.0.0/24.
    package static let defaultSubnet = "10.88.0.0/24"

    package static func isRecorded(in directory: String) -> Bool {
        DockerLabSetup.isRecorded(in: directory)
    }

    /// The container lab in `directory`: its netns record and its setup, or a failure saying what is there instead.
    package static func record(in directory: String) throws -> (record: NetnsLabRecord, setup: DockerLabSetup) {
        guard let setup = try DockerLabSetup.load(from: directory) else {
            throw Failure("no container lab recorded in \(directory) (start one with 'kithctl lab up --docker')")
        }
        guard let record = try NetnsLabRecord.load(from: directory) else {
            throw Failure("\(directory) has \(DockerLabSetup.fileName) but no lab.json; 'kithctl lab down' removes what is left")
        }
        return (record, setup)
    }

    // MARK: up

    /// Plans the lab, records it, writes the compose file, starts the project,
    /// attaches each container's network namespace, waits until every node
    /// answers and sees every other alive, then starts the agents. On any
    /// failure (or Ctrl-C) everything of the project is removed again.
    package static func up(count: Int, directory: String, image: String, agents: LocalLab.LabAgents?, subnet requested: NetnsSubnet?,
                           netAdmin: Bool, relaunchQuorum: String?, key: OperatorKey) throws {
        try NetnsLab.requireRoot("lab up --docker")
        try DockerEngine.requireEngine()
        try DockerEngine.requireImage(image)
        _ = try DockerEngine.composeCommand()
        if isRecorded(in: directory) || NetnsLabRecord.isNetns(directory) {
            throw Failure("a lab is recorded in \(directory); run 'kithctl lab down' first")
        }
        let started = Waiting.clock.now
        let signer = try LocalLab.prepareUp(in: directory, key: key)
        let claimed = try NetnsTools.withHostLock { () throws -> (record: NetnsLabRecord, setup: DockerLabSetup) in
            let planned = try plan(count: count, directory: directory, image: image, subnet: try chooseSubnet(requested, count: count),
                                   netAdmin: netAdmin, relaunchQuorum: relaunchQuorum, operatorKey: signer.publicKeyHex)
            try planned.setup.save(to: directory)
            try planned.record.save(to: directory)
            do {
                let up = try DockerEngine.compose(planned.setup.project, file: planned.setup.composeFile, ["up", "--detach", "--no-build"])
                guard up.succeeded else { throw Failure("compose up failed: \(up.output)") }
            } catch {
                removeAfterFailedUp(directory)
                throw error
            }
            return planned
        }
        var record = claimed.record
        let setup = claimed.setup
        do {
            for index in record.lab.nodes.indices {
                try Interrupt.check()
                record.lab.nodes[index].pid = try attach(record.lab.nodes[index].name, record: record, setup: setup)
            }
            try record.save(to: directory)
            let nodes = record.lab.nodes
            let check = { try checkContainersRunning(nodes, setup: setup) }
            try Waiting.poll(every: 50, timeout: LocalLab.startTimeout,
                             "not every node answered within \(Int(LocalLab.startTimeout)) s (logs: \(directory)/nI/kithd.log)") {
                try check()
                return nodes.allSatisfy { Views.answersStatus($0.control) } ? () : nil
            }
            try Views.waitConverged(nodes, timeout: LocalLab.agentsTimeout, check: check)
            if let agents {
                let planned = AgentRing.plan(nodes, perNode: agents.perNode, policy: agents.policy, kithAgent: agents.kithAgent)
                try AgentRing.start(planned, signer: signer)
                _ = try AgentViews.waitRunning(Set(planned.map(\.name)), at: nodes[0].control, timeout: LocalLab.agentsTimeout, check: check)
            }
        } catch {
            removeAfterFailedUp(directory)
            throw error
        }
        let seconds = Waiting.milliseconds(since: started) / 1000
        let network = record.network
        print("Container lab \(network.id) of \(count) nodes running in \(directory) (up in \(String(format: "%.1f", seconds)) s):")
        print("compose project \(setup.project), image \(setup.image), network bridge \(network.bridge) \(network.gateway)/\(network.prefix)"
              + (netAdmin ? "; the containers hold NET_ADMIN" : "") + ".")
        print(try nodeTable(record, setup: setup, agents: nil), terminator: "")
        if let agents {
            print("\(agents.perNode * count) agents running (\(agents.perNode) per node, policy \(agents.policy));"
                  + " each node's agents protect the next node's. See them with 'kithctl agents'.")
        }
        print("kithctl reaches them from here: kithctl --node \(record.lab.nodes[0].control) members."
              + " 'kithctl lab kill|pause|resume|stop|start NODE' act on the containers; 'kithctl lab partition n1,n2 / n3,...' cuts the network.")
        if directory != LabRecord.defaultDirectory() {
            print("Other commands find it with --dir \(directory) or KITH_LAB_DIR=\(directory).")
        }
    }

    /// Names, addresses, environments, the compose file and the secrets; only files are written here.
    private static func plan(count: Int, directory: String, image: String, subnet: NetnsSubnet, netAdmin: Bool,
                             relaunchQuorum: String?, operatorKey: String) throws -> (record: NetnsLabRecord, setup: DockerLabSetup) {
        let id = try freshID()
        let project = "kith-\(id)"
        let security = try LabSecurity.arguments(insecure: false, directory: directory)
        let cluster = security.firstIndex(of: "--cluster").map { security[$0 + 1] }
        guard let keyFlag = security.firstIndex(of: "--cluster-key-file") else { throw Failure("the lab has no cluster key file") }
        let clusterKeysFile = security[keyFlag + 1]
        let operatorKeysFile = directory + "/operator.pub"
        try KeyFile.write(operatorKey + "\n", to: operatorKeysFile)

        let addresses = (0..<count).map { NetnsSubnet.format(subnet.node($0)) }
        let listens = addresses.map { "\($0):\(NetnsLab.gossipPort)" }
        var nodes: [LabNode] = []
        var hosts: [NetnsHost] = []
        var services: [DockerCompose.Node] = []
        var containers: [String: String] = [:]
        for index in 0..<count {
            let name = "n\(index + 1)"
            let dataDir = directory + "/" + name
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let seeds = listens.prefix(LabLayout.seedCount).filter { $0 != listens[index] }
            let environment = DockerCompose.environment(name: name, address: addresses[index], dataDir: dataDir, seeds: seeds, cluster: cluster,
                                                        relaunchQuorum: relaunchQuorum, netAdmin: netAdmin)
            let control = "\(addresses[index]):\(NetnsLab.controlPort)"
            // The flags kithd runs with, as the other labs record them (the container gets them as KITH_* variables).
            var args = ["--name", name, "--listen", listens[index], "--control", control, "--data-dir", dataDir,
                        "--http", "\(addresses[index]):\(NetnsLab.httpPort)"]
            if !seeds.isEmpty { args += ["--join", seeds.joined(separator: ",")] }
            args += ["--operator-key", operatorKey] + security
            if let relaunchQuorum { args += ["--relaunch-quorum", relaunchQuorum] }
            nodes.append(LabNode(name: name, pid: 0, listen: listens[index], control: control, dataDir: dataDir, args: args))
            let container = "\(project)-\(name)"
            containers[name] = container
            hosts.append(NetnsHost(node: name, namespace: "\(project)-\(name)", veth: "", device: NetnsLab.device, address: addresses[index]))
            services.append(DockerCompose.Node(name: name, container: container, address: addresses[index], dataDir: dataDir,
                                               environment: environment))
        }
        let bridge = "kith-dk\(id)"
        let network = NetnsNetwork(id: id, subnet: subnet.description, bridge: bridge, gateway: NetnsSubnet.format(subnet.gateway),
                                   prefix: subnet.prefix, hosts: hosts)
        let composeFile = directory + "/compose.json"
        let compose = DockerCompose.file(nodes: services, image: image, subnet: subnet.description, gateway: network.gateway, bridge: bridge,
                                         operatorKeysFile: operatorKeysFile, clusterKeysFile: clusterKeysFile, netAdmin: netAdmin, labID: id)
        try (compose.serialized(pretty: true) + "\n").write(toFile: composeFile, atomically: true, encoding: .utf8)
        var lab = LabRecord(kithd: image, nodes: nodes, operatorKey: operatorKey)
        lab.relaunchQuorum = relaunchQuorum
        return (NetnsLabRecord(lab: lab, network: network),
                DockerLabSetup(project: project, image: image, composeFile: composeFile, netAdmin: netAdmin, containers: containers))
    }

    /// Six hex digits no namespace, interface or compose project of this host uses yet.
    private static func freshID() throws -> String {
        let namespaces = NetnsTools.namespaces()
        let links = NetnsTools.links()
        for _ in 0..<100 {
            let id = String(format: "%06x", UInt32.random(in: 0...0xff_ffff))
            let prefix = "kith-\(id)"
            if !namespaces.contains(where: { $0.hasPrefix(prefix) }) && !links.contains("kith-dk\(id)")
                && DockerEngine.projectObjects(prefix).containers.isEmpty {
                return id
            }
        }
        throw Failure("cannot find an unused lab id")
    }

    /// `requested` unless it overlaps an address of the root namespace (another lab's or
    /// Docker network's bridge), else the first free /24 from `defaultSubnet` on.
    private static func chooseSubnet(_ requested: NetnsSubnet?, count: Int) throws -> NetnsSubnet {
        let used = NetnsTools.rootAddresses()
        func clash(_ subnet: NetnsSubnet) -> String? {
            used.first { subnet.overlaps($0.address, prefix: $0.prefix) }.map { "\(NetnsSubnet.format($0.address))/\($0.prefix)" }
        }
        if let requested {
            guard requested.capacity >= count else {
                throw Failure("subnet \(requested) has room for \(requested.capacity) nodes and the gateway, not \(count)")
            }
            if let clash = clash(requested) { throw Failure("subnet \(requested) overlaps \(clash), already on an interface here; pick another with --subnet") }
            return requested
        }
        var candidate: NetnsSubnet? = try NetnsSubnet(parsing: defaultSubnet)
        for _ in 0..<256 {
            guard let subnet = candidate else { break }
            if clash(subnet) == nil { return subnet }
            candidate = subnet.next
        }
        throw Failure("no free /24 from \(defaultSubnet) on; pass --subnet")
    }

    /// Names the network namespace of `node`'s container `kith-ID-nI` (again, after a restart) and
    /// returns the host pid of its kithd, once the entrypoint has become kithd.
    private static func attach(_ node: String, record: NetnsLabRecord, setup: DockerLabSetup) throws -> Int32 {
        let container = try setup.container(node)
        let host = try record.network.host(node)
        guard let state = DockerEngine.state(of: container), state.pid > 0 else {
            throw Failure("container \(container) is not running: \(DockerEngine.state(of: container)?.status ?? "missing")"
                          + " (log: \(record.lab.nodes[try record.lab.index(of: node)].logPath))")
        }
        if NetnsTools.namespaces().contains(host.namespace) { try NetnsTools.must(["ip", "netns", "delete", host.namespace]) }
        try NetnsTools.must(["ip", "netns", "attach", host.namespace, String(state.pid)])
        return try Waiting.poll(every: 20, timeout: LocalLab.startTimeout, "\(container) never ran kithd (docker logs \(container))") {
            guard DockerEngine.state(of: container)?.status == "running" else {
                throw Failure("container \(container) stopped while starting: \(logTail(record, node))")
            }
            return children(of: state.pid).first { comm(of: $0) == "kithd" }
        }
    }

    /// Fails with the node's log if one of `nodes`' containers is no longer running.
    private static func checkContainersRunning(_ nodes: [LabNode], setup: DockerLabSetup) throws {
        for node in nodes {
            let container = try setup.container(node.name)
            let status = DockerEngine.state(of: container)?.status ?? "missing"
            guard status == "running" else {
                throw Failure("container \(container) of \(node.name) is \(status):\n\(LabLayout.logTail(node))")
            }
        }
    }

    private static func logTail(_ record: NetnsLabRecord, _ node: String) -> String {
        guard let index = try? record.lab.index(of: node) else { return "" }
        return LabLayout.logTail(record.lab.nodes[index])
    }

    /// Pids whose parent is `parent` (from /proc/PID/stat).
    private static func children(of parent: Int32) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> Int32? in
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent ? pid : nil
        }
    }

    private static func comm(of pid: Int32) -> String {
        ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Removes what a failed `lab up` created; the records stay if something could not be removed.
    private static func removeAfterFailedUp(_ directory: String) {
        do {
            try removeEverything(directory: directory, quiet: true)
        } catch {
            printError("kithctl: could not remove everything the failed lab created (\(error)); 'kithctl lab down --dir \(directory)' retries")
        }
    }

    // MARK: status

    package static func status(directory: String, json: Bool) throws {
        let (record, setup) = try record(in: directory)
        let agents = agentsRunning(record.lab, setup: setup)
        let network = record.network
        if json {
            let nodes: [JSON] = try zip(record.lab.nodes, network.hosts).map { node, host in
                let container = try setup.container(node.name)
                let state = DockerEngine.state(of: container)
                var entry: [String: JSON] = [
                    "name": .string(node.name), "pid": .int(Int64(state?.pid ?? 0)), "listen": .string(node.listen),
                    "control": .string(node.control), "running": .bool(state?.status == "running"),
                    "state": .string(state?.status ?? "missing"), "health": .string(state?.health ?? ""),
                    "container": .string(container), "namespace": .string(host.namespace), "address": .string(host.address),
                ]
                if let http = node.http { entry["http"] = .string(http) }
                if let agents { entry["agents"] = .int(Int64(agents[node.name] ?? 0)) }
                return .object(entry)
            }
            var object: [String: JSON] = [
                "nodes": .array(nodes), "netns": network.json,
                "docker": ["project": .string(setup.project), "image": .string(setup.image), "compose_file": .string(setup.composeFile),
                           "net_admin": .bool(setup.netAdmin)],
            ]
            if let quorum = record.lab.relaunchQuorum { object["relaunch_quorum"] = .string(quorum) }
            print(JSON.object(object).serialized(pretty: true))
            return
        }
        print(try nodeTable(record, setup: setup, agents: agents), terminator: "")
        if let quorum = record.lab.relaunchQuorum { print("Relaunch quorum: \(quorum).") }
        print("Container lab \(network.id): compose project \(setup.project), image \(setup.image), network bridge \(network.bridge)"
              + " \(network.gateway)/\(network.prefix)\(NetnsTools.links().contains(network.bridge) ? "" : " (missing)").")
        print(network.partitions.isEmpty ? "No partition."
              : "Partitioned (nftables table inet \(NetnsNetwork.partitionTable)): " + network.partitions.map(\.description).joined(separator: "; ") + ".")
        if network.impairments.isEmpty {
            print("No netem.")
        } else {
            for impairment in network.impairments { print("netem \(impairment.node): \(impairment.description)") }
        }
    }

    private static func nodeTable(_ record: NetnsLabRecord, setup: DockerLabSetup, agents: [String: Int]?) throws -> String {
        let rows = try zip(record.lab.nodes, record.network.hosts).map { node, host in
            let container = try setup.container(node.name)
            let state = DockerEngine.state(of: container)
            let status = (state?.status ?? "missing") + (state.map { $0.health.isEmpty ? "" : " (\($0.health))" } ?? "")
            return [node.name, container, status, host.address, node.control] + (agents.map { [String($0[node.name] ?? 0)] } ?? [])
        }
        let header = ["NAME", "CONTAINER", "STATE", "ADDRESS", "CONTROL"] + (agents == nil ? [] : ["AGENTS"])
        return Table.render(header: header, rows: rows)
    }

    /// Node → running agents, as the first running node that answers sees them; nil if none answers.
    private static func agentsRunning(_ lab: LabRecord, setup: DockerLabSetup) -> [String: Int]? {
        for node in lab.nodes where (try? setup.container(node.name)).flatMap(DockerEngine.state(of:))?.status == "running" {
            guard let agents = try? AgentViews.records(at: node.control, timeoutMilliseconds: 500) else { continue }
            var running: [String: Int] = [:]
            for agent in agents where agent["state"]?.stringValue == "running" {
                if let host = agent["node"]?.stringValue { running[host, default: 0] += 1 }
            }
            return running
        }
        return nil
    }

    // MARK: kill, pause, resume, stop, start

    /// The engine's way of each signal action: `docker kill` (SIGKILL), `pause` and `unpause`
    /// (the cgroup freezer: the node and its agents go silent), `stop` (SIGTERM, then SIGKILL after 3 s).
    package static func act(_ action: String, on name: String, directory: String) throws {
        let (_, setup) = try record(in: directory)
        let container = try setup.container(name)
        let command: [String]
        switch action {
        case "kill": command = ["kill", container]
        case "pause": command = ["pause", container]
        case "resume": command = ["unpause", container]
        case "stop": command = ["stop", "--time", "3", container]
        default: throw Failure("no container action '\(action)'")
        }
        try DockerEngine.mustDocker(command)
        print("docker \(command.joined(separator: " ")): \(name) \(["kill": "killed", "pause": "paused", "resume": "resumed", "stop": "stopped"][action] ?? action).")
    }

    /// Starts a stopped or killed node's container again (same name, address and data
    /// directory: a new boot of the same member), names its new namespace, waits until it answers.
    package static func start(_ name: String, directory: String) throws {
        try NetnsLab.requireRoot("lab start in a container lab")
        let recorded = try record(in: directory)
        var record = recorded.record
        let setup = recorded.setup
        let index = try record.lab.index(of: name)
        let container = try setup.container(name)
        let status = DockerEngine.state(of: container)?.status ?? "missing"
        guard status == "exited" || status == "created" || status == "dead" else {
            throw Failure("\(name)'s container \(container) is \(status); 'kithctl lab kill \(name)' or 'lab stop \(name)' first")
        }
        Interrupt.install()
        try DockerEngine.mustDocker(["start", container])
        record.lab.nodes[index].pid = try attach(name, record: record, setup: setup)
        try record.save(to: directory)
        try LocalLab.waitUntilAnswering([record.lab.nodes[index]])
        print("Started \(name) (container \(container)).")
    }

    // MARK: down

    /// Removes every container, network and volume of the project (compose down, then
    /// whatever still carries its label, as after a crash), the attached namespace names
    /// and the records; the images stay. The records go only once nothing is left.
    package static func down(directory: String) throws {
        try NetnsLab.requireRoot("lab down of a container lab")
        guard isRecorded(in: directory) else {
            print("No lab recorded in \(directory); nothing to stop.")
            return
        }
        try removeEverything(directory: directory, quiet: false)
    }

    private static func removeEverything(directory: String, quiet: Bool) throws {
        guard let setup = try DockerLabSetup.load(from: directory) else { return }
        let record = try? NetnsLabRecord.load(from: directory)
        var problems: [String] = []
        if FileManager.default.fileExists(atPath: setup.composeFile) {
            let down = try DockerEngine.compose(setup.project, file: setup.composeFile, ["down", "--volumes", "--remove-orphans", "--timeout", "3"])
            if !down.succeeded { problems.append("compose down: \(down.output)") }
        }
        var left = DockerEngine.projectObjects(setup.project)
        for container in Set(left.containers + setup.containers.values.filter { DockerEngine.state(of: $0) != nil }).sorted() {
            if let problem = NetnsTools.remove(["docker", "rm", "--force", "--volumes", container]) { problems.append(problem) }
        }
        for network in left.networks {
            if let problem = NetnsTools.remove(["docker", "network", "rm", network]) { problems.append(problem) }
        }
        for volume in left.volumes {
            if let problem = NetnsTools.remove(["docker", "volume", "rm", "--force", volume]) { problems.append(problem) }
        }
        let prefix = setup.project + "-"
        let namespaces = NetnsTools.namespaces()
        for namespace in Set((record?.network.hosts.map(\.namespace) ?? []) + namespaces.filter { $0.hasPrefix(prefix) }).sorted()
        where namespaces.contains(namespace) {
            if let problem = NetnsTools.remove(["ip", "netns", "delete", namespace]) { problems.append(problem) }
        }
        left = DockerEngine.projectObjects(setup.project)
        let leftovers = left.containers.map { "container \($0)" } + left.networks.map { "network \($0)" } + left.volumes.map { "volume \($0)" }
            + NetnsTools.namespaces().filter { $0.hasPrefix(prefix) }.map { "namespace \($0)" }
        guard leftovers.isEmpty else {
            throw Failure("could not remove \(leftovers.joined(separator: ", ")): \(problems.joined(separator: "; "));"
                          + " the record stays in \(directory) so 'kithctl lab down' can retry")
        }
        for file in [LabRecord.fileName, DockerLabSetup.fileName] {
            try? FileManager.default.removeItem(atPath: directory + "/" + file)
        }
        try? FileManager.default.removeItem(atPath: setup.composeFile)
        if !quiet {
            print("Removed container lab \(record?.network.id ?? setup.project): compose project \(setup.project)"
                  + " (\(setup.containers.count) containers, network, volumes); image \(setup.image) kept.")
        }
    }
}
