import KithCore
import KithNode

/// The reference agents of `lab up --agents` and `bench agents`: K per node,
/// named nI-aJ, started on nI; every agent of a node protects every agent of
/// the next node (n1's protect n2's, ..., nN's protect n1's), so each agent
/// has K guardians on another node.
enum AgentRing {
    struct Planned {
        var name: String
        var node: LabNode
        var spec: JSON
    }

    /// How often the reference agents checkpoint and ping their peers.
    static let intervalMilliseconds = 500

    static func name(node: String, index: Int) -> String { "\(node)-a\(index)" }

    static func plan(_ nodes: [LabNode], perNode: Int, policy: String, kithAgent: String) -> [Planned] {
        guard perNode > 0 else { return [] }
        return nodes.enumerated().flatMap { position, node in
            let next = nodes[(position + 1) % nodes.count]
            return (1...perNode).map { index in
                let name = Self.name(node: node.name, index: index)
                // In a one-node lab the next node is this one: guard its other agents, never oneself.
                let protects = (1...perNode).map { Self.name(node: next.name, index: $0) }.filter { $0 != name }
                var args = ["--policy", policy]
                if !protects.isEmpty { args += ["--protects", protects.joined(separator: ",")] }
                args += ["--interval-ms", String(intervalMilliseconds)]
                let spec: JSON = [
                    "name": .string(name), "command": .string(kithAgent), "args": .array(args.map(JSON.string)),
                    "protects": .array(protects.map(JSON.string)), "policy": .string(policy),
                ]
                return Planned(name: name, node: node, spec: spec)
            }
        }
    }

    /// Asks each agent's own node to start it there, signed by `signer`.
    static func start(_ planned: [Planned], signer: OperatorSigner) throws {
        for agent in planned {
            _ = try ControlClient(address: agent.node.control, signer: signer)
                .request(["cmd": "agent_start", "spec": agent.spec, "on": .string(agent.node.name)])
        }
    }
}
