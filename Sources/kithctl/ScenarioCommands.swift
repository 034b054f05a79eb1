import KithLab
import KithReport

/// A scenario's steps as the operator commands they stand for: the same code
/// as `kithctl kill`, `partition`, `kill-switch`, ..., called with the
/// arguments an operator would type and the key the run hands over.
struct ScenarioCommands: ScenarioOperator {
    /// How long a kill-switch, revive, quarantine or release waits for each node.
    static let fanOutTimeout = "2s"

    func perform(_ step: ResolvedStep, node: String, key: OperatorKey) throws {
        let target = step.target ?? ""
        func groups() -> [String] {
            [step.groups[0].joined(separator: ","), "/", step.groups[1].joined(separator: ",")]
                + (step.step.forMs.map { ["--for", "\($0)ms"] } ?? []) + (step.step.oneway ? ["--oneway"] : [])
        }
        switch step.action {
        case .killNode: try OperatorCommands.kill(["node", target], node: node, key: key)
        case .killAgent: try OperatorCommands.kill(["agent", target], node: node, key: key)
        case .shutdownNode: try OperatorCommands.shutdown(["node", target], node: node, key: key)
        case .shutdownAgent: try OperatorCommands.shutdown(["agent", target], node: node, key: key)
        case .pauseNode: try OperatorCommands.pause(["node", target, "--for", "\(step.step.forMs ?? 1000)ms"], node: node, key: key)
        case .partition: try FaultCommands.partition(groups(), node: node, key: key)
        case .delay:
            try FaultCommands.delay(groups() + ["--ms", String(step.step.delayMs ?? 0)]
                                    + (step.step.jitterMs.map { ["--jitter", String($0)] } ?? []), node: node, key: key)
        case .loss: try FaultCommands.loss(groups() + ["--percent", String(step.step.percent ?? 100)], node: node, key: key)
        case .heal: try heal(node: node, key: key)
        case .killSwitch:
            try OperatorCommands.killSwitch(step.targets + ["--timeout", Self.fanOutTimeout]
                                            + (step.step.reason.map { ["--reason", $0] } ?? []), node: node, key: key)
        case .revive: try OperatorCommands.revive(step.targets + ["--timeout", Self.fanOutTimeout], node: node, key: key)
        case .quarantine:
            try OperatorCommands.quarantine(step.targets + ["--timeout", Self.fanOutTimeout]
                                            + (step.step.reason.map { ["--reason", $0] } ?? []), node: node, key: key)
        case .release: try OperatorCommands.release(step.targets + ["--timeout", Self.fanOutTimeout], node: node, key: key)
        case .halt: try OperatorCommands.halt([], node: node, key: key)
        case .resume: try resume(node: node, key: key)
        case .startNode: break  // the lab restarts the daemon itself
        }
    }

    func heal(node: String, key: OperatorKey) throws {
        try FaultCommands.heal([], node: node, key: key)
    }

    func resume(node: String, key: OperatorKey) throws {
        try OperatorCommands.resume([], node: node, key: key)
    }
}
