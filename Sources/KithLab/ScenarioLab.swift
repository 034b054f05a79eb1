import Foundation
import Glibc
import KithControl
import KithCore

/// The daemons one scenario run (or the demo) starts in a fresh temporary
/// directory, obeying a given operator key, and always tears down.
///
/// Unlike `Cluster` (bench), the key is given rather than made here, so every
/// repeat of a run signs with the one key the run was handed.
package final class ScenarioLab {
    package let directory: String
    package let kithd: String
    private(set) var nodes: [LabNode]
    /// Node name → its event log's public key, read once every node answers.
    private(set) var publicKeys: [String: String] = [:]
    private var tornDown = false

    /// How long starting, converging and starting the agents may take, each.
    package static let startTimeout = 30.0

    /// `signer` is the operator's: the daemons obey its key, and it certifies each node's key (as `lab up`
    /// does), so scenario labs run with certified node keys. `kithdArgs` go to every daemon.
    package init(count: Int, kithd: String, signer: OperatorSigner, kithdArgs: [String] = [], prefix: String = "kith-run") throws {
        var template = Array((FileManager.default.temporaryDirectory.path + "/\(prefix)-XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else {
            throw Failure("cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: created)
        self.kithd = kithd
        nodes = try LabLayout.plan(count: count, directory: directory, operatorKey: signer.publicKeyHex, signer: signer).map { node in
            var node = node
            node.args += kithdArgs
            return node
        }
    }

    deinit { tearDown(removingDirectory: false) }

    package func node(_ name: String) -> LabNode? { nodes.first { $0.name == name } }

    /// Starts every daemon, waits until each sees every other alive, and reads their public keys.
    package func start() throws {
        for index in nodes.indices {
            nodes[index].pid = try LabLayout.launch(nodes[index], kithd: kithd)
        }
        try Views.waitConverged(nodes, timeout: Self.startTimeout) { try checkStillRunning() }
        for node in nodes {
            let status = try ControlClient(address: node.control, timeoutMilliseconds: 2000).request(["cmd": "status"])
            if let key = status["public_key"]?.stringValue { publicKeys[node.name] = key }
        }
    }

    /// Starts `planned` agents, each on its own node, and waits until all run.
    package func startAgents(_ planned: [AgentRing.Planned], signer: OperatorSigner) throws {
        guard !planned.isEmpty else { return }
        try AgentRing.start(planned, signer: signer)
        _ = try AgentViews.waitRunning(Set(planned.map(\.name)), at: nodes[0].control, timeout: Self.startTimeout) {
            try checkStillRunning()
        }
    }

    /// Fails with a daemon's log if one has exited.
    package func checkStillRunning() throws {
        for node in nodes { try LabLayout.checkStillRunning(node) }
    }

    /// Whether the daemon's process is gone (reaping it if it is our zombie).
    package func isDead(_ name: String) -> Bool {
        guard let node = node(name), node.pid > 0 else { return true }
        _ = Processes.reap(node.pid)
        return Processes.state(of: node.pid, dataDir: node.dataDir) == .dead
    }

    /// Starts a node again with its recorded name, ports and data directory
    /// (a new boot of the same member); fails if it still runs.
    package func restart(_ name: String) throws {
        guard let index = nodes.firstIndex(where: { $0.name == name }) else { throw Failure("the lab has no node '\(name)'") }
        guard isDead(name) else { throw Failure("\(name) is still running (pid \(nodes[index].pid))") }
        nodes[index].pid = try LabLayout.launch(nodes[index], kithd: kithd, appendingToLog: true)
        let control = nodes[index].control
        try Waiting.poll(every: 50, timeout: 15, "\(name) did not answer within 15 s after its restart") {
            Views.answersStatus(control) ? () : nil
        }
    }

    /// SIGCONT to every daemon still running, so none stays paused.
    package func continueAll() {
        for node in nodes where node.pid > 0 { _ = Processes.send(SIGCONT, to: node.pid, dataDir: node.dataDir) }
    }

    /// SIGKILLs every daemon (SIGCONT first, so a paused one goes too), reaps
    /// it, and kills any agent process left behind. Idempotent.
    package func tearDown(removingDirectory: Bool) {
        if !tornDown {
            tornDown = true
            Processes.killLab(nodes, directory: directory)
        }
        if removingDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// The agents of a lab: K per node named nI-aJ, started on nI. With
    /// guardianship "ring" every agent of a node protects every agent of the
    /// next node (as `lab up --agents`); with "none" nobody protects anybody.
    /// `policies` overrides `policy` per agent.
    package static func plan(_ nodes: [LabNode], perNode: Int, policy: String, policies: [String: String] = [:],
                     guardianship: String = "ring", kithAgent: String) -> [AgentRing.Planned] {
        guard perNode > 0 else { return [] }
        return nodes.enumerated().flatMap { position, node in
            let next = nodes[(position + 1) % nodes.count]
            return (1...perNode).map { index in
                let name = AgentRing.name(node: node.name, index: index)
                let protects = guardianship == "ring"
                    ? (1...perNode).map { AgentRing.name(node: next.name, index: $0) }.filter { $0 != name } : []
                let own = policies[name] ?? policy
                var args = ["--policy", own]
                if !protects.isEmpty { args += ["--protects", protects.joined(separator: ",")] }
                args += ["--interval-ms", String(AgentRing.intervalMilliseconds)]
                let spec: JSON = [
                    "name": .string(name), "command": .string(kithAgent), "args": .array(args.map(JSON.string)),
                    "protects": .array(protects.map(JSON.string)), "policy": .string(own),
                ]
                return AgentRing.Planned(name: name, node: node, spec: spec)
            }
        }
    }
}

extension ScenarioLab {
    /// The scenario's own agents, each started on its node with its own command (`{listen:NODE}` in an
    /// argument becomes that node's gossip address), guarding the peers it names with its policy.
    /// `${VAR}` in an env value becomes `environment`'s VAR (kithctl's own; empty when unset).
    package static func plan(_ agents: [Scenario.ExtraAgent], on nodes: [LabNode],
                             environment: [String: String] = ProcessInfo.processInfo.environment) -> [AgentRing.Planned] {
        agents.compactMap { agent in
            guard let node = nodes.first(where: { $0.name == agent.node }) else { return nil }
            let args = agent.args.map { arg in
                nodes.reduce(arg) { text, node in text.replacingOccurrences(of: "{listen:\(node.name)}", with: node.listen) }
            }
            var spec: [String: JSON] = ["name": .string(agent.name), "command": .string(agent.command),
                                        "args": .array(args.map(JSON.string))]
            if !agent.protects.isEmpty { spec["protects"] = .array(agent.protects.map(JSON.string)) }
            if let policy = agent.policy { spec["policy"] = .string(policy) }
            if !agent.env.isEmpty { spec["env"] = .object(agent.env.mapValues { .string(expand($0, environment)) }) }
            return AgentRing.Planned(name: agent.name, node: node, spec: .object(spec))
        }
    }
}

extension ScenarioLab {
    /// `text` with every `${NAME}` replaced by `environment[NAME]` (empty when unset); anything else kept as written.
    package static func expand(_ text: String, _ environment: [String: String]) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else { break }
            out += rest[..<open.lowerBound]
            out += environment[String(rest[open.upperBound..<close])] ?? ""
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
}

/// Runs `body` with the process's stdout and stderr going to a buffer, and
/// returns what it wrote: the existing command implementations print their
/// outcome, which a scenario run keeps for its narration and report.
package enum OutputCapture {
    package static func run(_ body: () throws -> Void) -> (error: Error?, output: String) {
        fflush(nil)
        var template = Array((FileManager.default.temporaryDirectory.path + "/kithctl-capture-XXXXXX").utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else {
            // Cannot capture: let the output through rather than fail the action.
            do { try body() } catch { return (error, "") }
            return (nil, "")
        }
        unlink(template)
        let savedOut = dup(1)
        let savedErr = dup(2)
        dup2(fd, 1)
        dup2(fd, 2)
        var failure: Error?
        do { try body() } catch { failure = error }
        fflush(nil)
        dup2(savedOut, 1)
        dup2(savedErr, 2)
        close(savedOut)
        close(savedErr)
        var bytes: [UInt8] = []
        lseek(fd, 0, SEEK_SET)
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        close(fd)
        return (failure, String(decoding: bytes, as: UTF8.self))
    }
}
