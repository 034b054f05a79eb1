import KithControl
import KithCore

/// The reference agents of `lab up --agents` and `bench agents`: K per node,
/// named nI-aJ, started on nI; every agent of a node protects every agent of
/// the next node (n1's protect n2's, ..., nN's protect n1's), so each agent
/// has K guardians on another node.
package enum AgentRing {
    /// What a guardian does when its peer is lost, as `--policy` and scenarios spell it.
    package static let policies = ["none", "relaunch", "relaunch-and-mask"]

    package struct Planned {
        package var name: String
        package var node: LabNode
        package var spec: JSON
    }

    /// How often the reference agents checkpoint and ping their peers.
    package static let intervalMilliseconds = 500

    package static func name(node: String, index: Int) -> String { "\(node)-a\(index)" }

    package static func plan(_ nodes: [LabNode], perNode: Int, policy: String, kithAgent: String) -> [Planned] {
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
    package static func start(_ planned: [Planned], signer: OperatorSigner) throws {
        for agent in planned {
            _ = try ControlClient(address: agent.node.control, signer: signer)
                .request(["cmd": "agent_start", "spec": agent.spec, "on": .string(agent.node.name)])
        }
    }
}
