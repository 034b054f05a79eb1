import Foundation
import Glibc
import KithCore
import KithControl

/// Operator authority in a `LabHarness` lab: the lab's operator key (made by
/// `lab up` in the lab's own config directory), hostile keys, the nodes'
/// signed event logs and the agent processes per node.
extension LabHarness {
    /// The key `lab up` created and the daemons obey.
    var operatorKeyPath: String { configHome + "/kith/operator.key" }

    /// The operator's signer, signing for the lab's cluster (as kithctl learns it from a node).
    func operatorSigner() throws -> OperatorSigner {
        var signer = try OperatorSigner(keyPath: operatorKeyPath)
        signer.cluster = nodes.first.flatMap { status(of: $0.name)?["cluster"]?.stringValue }
        return signer
    }

    /// A key the daemons were never told about, as an attacker would hold.
    func intruderSigner() throws -> OperatorSigner {
        try FileManager.default.createDirectory(atPath: directory + "/intruder", withIntermediateDirectories: true)
        return try OperatorSigner.generate(at: directory + "/intruder/operator.key")
    }

    /// The node's event-log records (its whole log), nil if it did not answer.
    func events(on node: String) -> [JSON]? {
        guard let reply = try? ControlClient(address: self.node(node).control, timeoutMilliseconds: 5000)
            .request(["cmd": "events", "limit": 100_000]),
              let lines = reply["lines"]?.arrayValue else { return nil }
        return lines.compactMap { $0.stringValue.flatMap { try? JSON.parse($0) } }
    }

    /// Every node's records called `event`, with the node that logged it.
    func events(_ event: String, on nodes: [String]? = nil) -> [(node: String, record: JSON)] {
        (nodes ?? self.nodes.map(\.name)).flatMap { node in
            (events(on: node) ?? []).filter { $0["event"]?.stringValue == event }.map { (node, $0) }
        }
    }

    /// Pids of live processes of agent `name` on `node` (its log is `node`'s), or on any node.
    func liveProcesses(of name: String, on node: String? = nil) -> [Int32] {
        agentProcesses().compactMap { pid, log in
            let path = log.replacingOccurrences(of: " (deleted)", with: "")
            guard path.hasSuffix("/agents/\(name).log"), Pids.isAlive(pid) else { return nil }
            if let node, !path.hasPrefix("\(directory)/\(node)/agents/") { return nil }
            return pid
        }
    }

    /// Asserts-by-throwing that `condition` holds at every poll for `seconds`.
    func holds(for seconds: Double, _ what: String, _ condition: () -> String?) throws {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if let violation = condition() { throw HarnessError("\(what) did not hold: \(violation)") }
            usleep(100_000)
        }
    }
}
