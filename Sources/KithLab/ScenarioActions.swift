import Foundation
import Glibc
import KithCore
import KithReport

/// The operator commands a timeline step stands for, carried out by the
/// caller: kithctl runs its own command implementations (the same code as
/// `kithctl kill`, `partition`, `kill-switch`, ...), so a step does exactly
/// what the operator would type, signed with the key it is handed.
package protocol ScenarioOperator {
    /// Carries out `step` (any action but `start node`) through the node at `node`.
    func perform(_ step: ResolvedStep, node: String, key: OperatorKey) throws
    func heal(node: String, key: OperatorKey) throws
    func resume(node: String, key: OperatorKey) throws
}

/// Carries out timeline steps through a `ScenarioOperator`, with their
/// output captured for the narration and the report.
package final class ScenarioActions {
    /// Node name → control address.
    private(set) var controls: [String: String]
    /// Node name → wall-clock ms until which it is not asked anything (killed: forever, paused: until it wakes).
    private var unavailable: [String: Int64] = [:]
    package let lab: ScenarioLab?
    /// Signs every step: the run's own throwaway key, or the operator's for an existing cluster.
    package let key: OperatorKey
    package let commands: any ScenarioOperator

    package init(controls: [String: String], lab: ScenarioLab?, key: OperatorKey, commands: any ScenarioOperator) {
        self.controls = controls
        self.lab = lab
        self.key = key
        self.commands = commands
    }

    /// A node that answers, preferring ones no step has taken down; nil if none does.
    package func liveControl() -> String? {
        let now = Durations.nowMilliseconds
        let names = controls.keys.sorted(by: NodeNames.order)
        let preferred = names.filter { (unavailable[$0] ?? 0) <= now } + names.filter { (unavailable[$0] ?? 0) > now }
        for name in preferred {
            if let control = controls[name], Views.answersStatus(control) { return control }
        }
        return nil
    }

    /// Runs one step now; never throws for the step's own failure, only for Ctrl-C.
    package func execute(_ step: ResolvedStep) throws -> ActionOutcome {
        try Interrupt.check()
        let issued = Durations.nowMilliseconds
        var outcome = ActionOutcome(step: step, label: step.description, issuedMs: issued, doneMs: issued, ok: true, error: nil, output: "")
        let (error, output) = OutputCapture.run { try self.perform(step) }
        outcome.doneMs = Durations.nowMilliseconds
        outcome.output = output.trimmingCharacters(in: .whitespacesAndNewlines)
        if let error {
            if error is Interrupted { throw error }
            outcome.ok = false
            outcome.error = (error as? UsageError)?.message ?? "\(error)"
        }
        note(step, at: issued)
        return outcome
    }

    /// What the runner does at the end of every run, on Ctrl-C and on abort:
    /// every paused lab daemon continued, every fault healed, relaunches
    /// resumed. Kill-switches stay as they are (nothing is revived).
    package func healEverything() -> [ActionOutcome] {
        lab?.continueAll()
        var outcomes: [ActionOutcome] = []
        for (label, body) in [("heal (end of run)", { (node: String) throws in try self.commands.heal(node: node, key: self.key) }),
                              ("resume (end of run)", { (node: String) throws in try self.commands.resume(node: node, key: self.key) })] {
            let issued = Durations.nowMilliseconds
            var outcome = ActionOutcome(step: nil, label: label, issuedMs: issued, doneMs: issued, ok: true, error: nil, output: "")
            if let node = liveControl() {
                let (error, output) = OutputCapture.run { try body(node) }
                outcome.output = output.trimmingCharacters(in: .whitespacesAndNewlines)
                if let error { outcome.ok = false; outcome.error = (error as? UsageError)?.message ?? "\(error)" }
            } else {
                outcome.ok = false
                outcome.error = "no node answered"
            }
            outcome.doneMs = Durations.nowMilliseconds
            outcomes.append(outcome)
        }
        return outcomes
    }

    private func note(_ step: ResolvedStep, at issued: Int64) {
        guard let target = step.target else { return }
        switch step.action {
        case .killNode, .shutdownNode: unavailable[target] = .max
        case .pauseNode: unavailable[target] = issued + Int64(step.step.forMs ?? 0) + 500
        case .startNode: unavailable[target] = nil
        default: break
        }
    }

    private func perform(_ step: ResolvedStep) throws {
        if step.action == .startNode {
            guard let lab, let target = step.target else { throw Failure("'start node' needs a lab") }
            try lab.restart(target)
            print("Started \(target) again (a new boot of the same member, same data directory).")
            return
        }
        guard let node = liveControl() else { throw Failure("no node of the cluster answers") }
        try commands.perform(step, node: node, key: key)
    }
}
