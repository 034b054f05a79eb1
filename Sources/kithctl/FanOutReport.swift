import KithJSON
import KithLab

/// Prints fan-out outcomes (or their JSON) and fails when the command did not
/// take everywhere it had to.
enum FanOutReport {
    /// Which members must answer for the command to succeed.
    enum Required {
        /// Live ones (alive or suspect); a dead or departed one not answering is only reported.
        case live
        /// Every member that has not left, but for a dead one whose daemon is gone (its control port
        /// refused the connection): a frozen node the others already call dead still holds what the
        /// command was meant to change (e.g. `heal` and its faults); a crashed one holds nothing.
        case allButLeft
        /// None: answers are reported, refusals still fail.
        case none

        func requires(_ outcome: FleetOutcome) -> Bool {
            switch self {
            case .live: outcome.member.isLive
            case .allButLeft: outcome.member.state != "left" && (outcome.member.isLive || !outcome.isGone)
            case .none: false
            }
        }
    }

    static func finish(_ outcomes: [FleetOutcome], json: Bool, what: String, ok: String = "ok",
                       required: Required = .live) throws {
        if json {
            print(JSON.array(outcomes.map(\.json)).serialized(pretty: true))
        } else {
            for outcome in outcomes { print(outcome.line(ok: ok)) }
        }
        let refused = outcomes.filter { $0.refusal != nil }.map(\.member.name)
        let silent = outcomes.filter { $0.unreachable != nil && required.requires($0) }.map(\.member.name)
        var problems: [String] = []
        if !refused.isEmpty { problems.append("refused by \(refused.joined(separator: ", "))") }
        if !silent.isEmpty { problems.append("no answer from \(silent.joined(separator: ", "))") }
        if !problems.isEmpty { throw Failure("\(what): " + problems.joined(separator: "; ")) }
    }
}
