import KithControl
import KithCore
import KithReport

/// Which members a fanned-out command must reach for it to have taken: the one rule every fan-out
/// command states, so that "exit 0" always means "in place everywhere it had to be".
package enum FanOutRule: Sendable {
    /// Every member that has not left, but a dead one whose daemon is gone (its control port refuses the
    /// connection). A frozen node the others call dead still holds what the command changes (its faults,
    /// its agents, its keyring) and acts on it when it continues; a crashed one holds nothing until it
    /// boots again and learns the cluster's state. For commands sent to the whole cluster: kill-switch,
    /// revive, quarantine, release, halt, resume, heal, keys.
    case allButGone
    /// Every member the command was addressed to, whatever its state: the operator named them
    /// (partition, delay, loss), and a fault a node did not take is not in place.
    case everyAddressed
    /// Live members only (alive or suspect): reads, where a dead member's silence is expected.
    case live

    /// Whether `outcome`'s member had to answer.
    package func requires(_ outcome: FleetOutcome) -> Bool {
        switch self {
        case .allButGone: outcome.member.state != "left" && (outcome.member.isLive || !outcome.isGone)
        case .everyAddressed: true
        case .live: outcome.member.isLive
        }
    }
}

/// The outcome of a fanned-out command node by node (NODE, STATE, RESULT, DETAIL) and whether it
/// failed: a refusal always fails it, so does silence from a member the rule requires.
package struct FanOutTable: Sendable {
    /// One node's line.
    package enum Result: String, Sendable {
        /// It answered and did it.
        case ok
        /// It answered and refused.
        case refused
        /// It did not answer, and had to.
        case noAnswer = "no answer"
        /// It did not answer, and did not have to (the rule excuses it).
        case notRequired = "no answer, not required"
        /// kithctl did not send it: the request could not be signed, the address is bad, or the node's
        /// key is not the one pinned (`keys install` seals nothing to an impostor). Never excused.
        case notSent = "not sent"

        /// Whether this line makes the command fail.
        package var fails: Bool { self != .ok && self != .notRequired }

        /// The word `--json` gives it.
        var key: String {
            switch self {
            case .ok, .refused: rawValue
            case .noAnswer: "no_answer"
            case .notRequired: "not_required"
            case .notSent: "not_sent"
            }
        }
    }

    package struct Row: Sendable {
        package var node: String
        package var state: String
        package var result: Result
        package var detail: String
    }

    package let what: String
    package let rows: [Row]

    /// `outcomes` judged by `rule`; `detail` says what an answer did (default: `ok`).
    package init(_ outcomes: [FleetOutcome], what: String, rule: FanOutRule, ok: String = "ok",
                 detail: (FleetOutcome) -> String? = { _ in nil }) {
        self.what = what
        rows = outcomes.map { outcome in
            let result: Result
            let text: String
            switch outcome.result {
            case .success:
                result = .ok
                text = detail(outcome) ?? ok
            case .failure(.rejected(_, let message)):
                result = .refused
                text = message
            case .failure(let error) where error.isLocal:
                result = .notSent
                text = error.description
            case .failure(let error):
                result = rule.requires(outcome) ? .noAnswer : .notRequired
                text = error.description
            }
            return Row(node: outcome.member.name, state: outcome.member.state, result: result, detail: text)
        }
    }

    /// Whether any node refused or a required one did not answer.
    package var failed: Bool { rows.contains { $0.result.fails } }

    /// The nodes that refused, the required ones that did not answer, and those never asked.
    package var refusedBy: [String] { rows.filter { $0.result == .refused }.map(\.node) }
    package var unansweredBy: [String] { rows.filter { $0.result == .noAnswer }.map(\.node) }
    package var notSentTo: [String] { rows.filter { $0.result == .notSent }.map(\.node) }

    /// Aligned columns; with `colour`, RESULT in ANSI colours (for a terminal only).
    package func rendered(colour: Bool = false) -> String {
        let width = rows.map(\.result.rawValue.count).reduce("RESULT".count, max)
        // Every RESULT cell is padded first and then wrapped in codes of one length (bold for the
        // header), so the codes never skew the alignment.
        func cell(_ text: String, _ code: String) -> String {
            let padded = text.padding(toLength: width, withPad: " ", startingAt: 0)
            return colour ? "\u{1B}[\(code)m\(padded)\u{1B}[0m" : padded
        }
        return Table.render(header: ["NODE", "STATE", cell("RESULT", "01"), "DETAIL"], rows: rows.map { row in
            let code = switch row.result {
            case .ok: "32"
            case .refused, .noAnswer, .notSent: "31"
            case .notRequired: "90"
            }
            return [row.node, row.state, cell(row.result.rawValue, code), row.detail]
        })
    }

    /// Why the command failed, one sentence naming the nodes; nil when it did not.
    package var failure: String? {
        var problems: [String] = []
        if !refusedBy.isEmpty { problems.append("refused by \(refusedBy.joined(separator: ", "))") }
        if !unansweredBy.isEmpty { problems.append("no answer from \(unansweredBy.joined(separator: ", "))") }
        if !notSentTo.isEmpty { problems.append("not sent to \(notSentTo.joined(separator: ", "))") }
        return problems.isEmpty ? nil : "\(what): " + problems.joined(separator: "; ")
    }

    /// Each outcome's JSON (`node`, `control`, `member_state`, `ok`, `reply` | `refused` | `unreachable`)
    /// with `result` and `required` added.
    package static func json(_ outcomes: [FleetOutcome], rule: FanOutRule) -> [JSON] {
        let table = FanOutTable(outcomes, what: "", rule: rule)
        return zip(outcomes, table.rows).map { outcome, row in
            guard case .object(var entry) = outcome.json else { return outcome.json }
            entry["result"] = .string(row.result.key)
            entry["required"] = .bool(rule.requires(outcome))
            return .object(entry)
        }
    }
}

extension ControlError {
    /// The failure happened on this side, before the node could be asked.
    fileprivate var isLocal: Bool {
        switch self {
        case .unsigned, .badAddress: true
        default: false
        }
    }
}
