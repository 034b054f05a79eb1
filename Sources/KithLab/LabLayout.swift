import Foundation
import KithControl

/// How a lab's daemons are named, addressed and started.
package enum LabLayout {
    /// How many join seeds every node is given.
    package static let seedCount = 3
    /// Labs larger than this spread their joins over the first `seedPool` nodes instead of n1..n3:
    /// 255 daemons started together through three seeds swamped them (each answering every join with
    /// its whole table) until they missed their own probes and the cluster churned.
    package static let seedPool = 32

    /// The join seeds of node `index` (0-based) among `listens`: n1..n3 (other than itself) in a lab of
    /// up to `seedPool` nodes; beyond, three distinct nodes of the first `seedPool`, a different trio
    /// for consecutive nodes, so each pool node answers about 3 × N / 32 joins and any node, a seed
    /// included, can restart and rejoin while the others stay up.
    package static func seeds(of index: Int, among listens: [String]) -> [String] {
        guard listens.count > seedPool else { return listens.prefix(seedCount).filter { $0 != listens[index] } }
        var chosen: [String] = []
        var candidate = index * seedCount
        while chosen.count < seedCount {
            let seed = listens[candidate % seedPool]
            if seed != listens[index] && !chosen.contains(seed) { chosen.append(seed) }
            candidate += 1
        }
        return chosen
    }

    /// Nodes n1..nN in `directory` on fresh loopback ports (gossip, control, HTTP). Every node gets
    /// three other nodes as seeds (`seeds(of:among:)`), so any of them, n1
    /// included, can restart and rejoin while the others stay up. Each obeys
    /// the operator whose public key is `operatorKey`, and all share a fresh
    /// cluster key unless `insecure` (see `LabSecurity`). With `signer`, each
    /// node gets a key and that operator's node certificate. Fails if the
    /// machine cannot hold `count` daemons (see `LabCapacity`).
    package static func plan(count: Int, directory: String, operatorKey: String, insecure: Bool = false,
                             signer: OperatorSigner? = nil) throws -> [LabNode] {
        try LabCapacity.reserve(count: count)
        let ports = try Ports.free(count: 3 * count)
        let security = try LabSecurity.arguments(insecure: insecure, directory: directory)
        let listens = (0..<count).map { "127.0.0.1:\(ports[3 * $0])" }
        return try (0..<count).map { index in
            let name = "n\(index + 1)"
            let dataDir = directory + "/" + name
            let seeds = seeds(of: index, among: listens)
            let control = "127.0.0.1:\(ports[3 * index + 1])"
            var args = ["--name", name, "--listen", listens[index], "--control", control,
                        "--data-dir", dataDir, "--http", "127.0.0.1:\(ports[3 * index + 2])"]
            if !seeds.isEmpty { args += ["--join", seeds.joined(separator: ",")] }
            args += ["--operator-key", operatorKey] + security
            if let signer { args += try LabSecurity.certify(node: name, dataDir: dataDir, security: security, signer: signer) }
            return LabNode(name: name, pid: 0, listen: listens[index], control: control,
                           dataDir: dataDir, args: args)
        }
    }

    /// Starts `node` in its own session, returning the pid. A restart appends to
    /// the node's log so its history stays readable; a fresh lab starts a new log.
    package static func launch(_ node: LabNode, kithd: String, appendingToLog: Bool = false) throws -> Int32 {
        // 0700 as kithd wants it: it refuses a data directory others may write to.
        try FileManager.default.createDirectory(atPath: node.dataDir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        return try Processes.spawn(kithd, arguments: node.args, logPath: node.logPath, appending: appendingToLog)
    }

    /// Fails with the end of the node's log if the daemon (a child of this
    /// process) has exited, so a daemon that cannot start is reported at once
    /// instead of after a long wait for an answer.
    package static func checkStillRunning(_ node: LabNode) throws {
        if let status = Processes.reap(node.pid) {
            throw Failure("\(node.name) \(Processes.describe(waitStatus: status)):\n\(logTail(node))")
        }
    }

    /// The daemon binary: `explicit`, else `kithd` beside this executable, else on `$PATH`.
    package static func kithd(_ explicit: String?) throws -> String {
        if let explicit {
            guard access(explicit, X_OK) == 0 else { throw Failure("\(explicit) is not an executable file") }
            return LabRecord.absolute(explicit)
        }
        let ownDirectory = URL(fileURLWithPath: Processes.ownExecutable()).deletingLastPathComponent().path
        let candidates = [ownDirectory] + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in candidates where access(directory + "/kithd", X_OK) == 0 {
            return LabRecord.absolute(directory + "/kithd")
        }
        throw Failure("cannot find kithd next to kithctl or on $PATH; pass --kithd PATH")
    }

    /// The last lines of a node's log, to show why it failed without sending the operator digging.
    package static func logTail(_ node: LabNode, lines: Int = 5) -> String {
        guard let data = FileManager.default.contents(atPath: node.logPath) else { return "(no log at \(node.logPath))" }
        let tail = String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(lines)
        return tail.isEmpty ? "(empty log at \(node.logPath))" : tail.map { "  " + $0 }.joined(separator: "\n")
    }
}
