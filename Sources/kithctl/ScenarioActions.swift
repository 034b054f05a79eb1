import Foundation
import Glibc
import KithCore
import KithNode

/// Carries out timeline steps through the existing command implementations
/// (the same code as `kithctl kill`, `partition`, `kill-switch`, ...), with
/// their output captured for the narration and the report.
final class ScenarioActions {
    /// Node name → control address.
    private(set) var controls: [String: String]
    /// Node name → wall-clock ms until which it is not asked anything (killed: forever, paused: until it wakes).
    private var unavailable: [String: Int64] = [:]
    let lab: ScenarioLab?
    /// How long a kill-switch or revive waits for each node.
    static let fanOutTimeout = "2s"

    init(controls: [String: String], lab: ScenarioLab?) {
        self.controls = controls
        self.lab = lab
    }

    /// A node that answers, preferring ones no step has taken down; nil if none does.
    func liveControl() -> String? {
        let now = Durations.nowMilliseconds
        let names = controls.keys.sorted(by: Fleet.order)
        let preferred = names.filter { (unavailable[$0] ?? 0) <= now } + names.filter { (unavailable[$0] ?? 0) > now }
        for name in preferred {
            if let control = controls[name], Views.answersStatus(control) { return control }
        }
        return nil
    }

    /// Runs one step now; never throws for the step's own failure, only for Ctrl-C.
    func execute(_ step: ResolvedStep) throws -> ActionOutcome {
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
    func healEverything() -> [ActionOutcome] {
        lab?.continueAll()
        var outcomes: [ActionOutcome] = []
        for (label, body) in [("heal (end of run)", { (node: String) throws in try FaultCommands.heal([], node: node) }),
                              ("resume (end of run)", { (node: String) throws in try OperatorCommands.resume([], node: node) })] {
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
        let target = step.target ?? ""
        func groups() -> [String] {
            [step.groups[0].joined(separator: ","), "/", step.groups[1].joined(separator: ",")]
                + (step.step.forMs.map { ["--for", "\($0)ms"] } ?? []) + (step.step.oneway ? ["--oneway"] : [])
        }
        switch step.action {
        case .killNode: try OperatorCommands.kill(["node", target], node: node)
        case .killAgent: try OperatorCommands.kill(["agent", target], node: node)
        case .shutdownNode: try OperatorCommands.shutdown(["node", target], node: node)
        case .shutdownAgent: try OperatorCommands.shutdown(["agent", target], node: node)
        case .pauseNode: try OperatorCommands.pause(["node", target, "--for", "\(step.step.forMs ?? 1000)ms"], node: node)
        case .partition: try FaultCommands.partition(groups(), node: node)
        case .delay:
            try FaultCommands.delay(groups() + ["--ms", String(step.step.delayMs ?? 0)]
                                    + (step.step.jitterMs.map { ["--jitter", String($0)] } ?? []), node: node)
        case .loss: try FaultCommands.loss(groups() + ["--percent", String(step.step.percent ?? 100)], node: node)
        case .heal: try FaultCommands.heal([], node: node)
        case .killSwitch:
            try OperatorCommands.killSwitch(step.targets + ["--timeout", Self.fanOutTimeout]
                                            + (step.step.reason.map { ["--reason", $0] } ?? []), node: node)
        case .revive: try OperatorCommands.revive(step.targets + ["--timeout", Self.fanOutTimeout], node: node)
        case .halt: try OperatorCommands.halt([], node: node)
        case .resume: try OperatorCommands.resume([], node: node)
        case .startNode: break
        }
    }
}
