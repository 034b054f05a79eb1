import KithJSON
import KithLab

/// Prints fan-out outcomes (or their JSON) and fails when the command did not
/// take everywhere it had to.
enum FanOutReport {
    /// `requireLive`: a live member (alive or suspect) that did not answer is a
    /// failure too; a dead or departed one not answering is only reported.
    static func finish(_ outcomes: [FleetOutcome], json: Bool, what: String, ok: String = "ok",
                       requireLive: Bool = true) throws {
        if json {
            print(JSON.array(outcomes.map(\.json)).serialized(pretty: true))
        } else {
            for outcome in outcomes { print(outcome.line(ok: ok)) }
        }
        let refused = outcomes.filter { $0.refusal != nil }.map(\.member.name)
        let silent = outcomes.filter { $0.unreachable != nil && $0.member.isLive }.map(\.member.name)
        var problems: [String] = []
        if !refused.isEmpty { problems.append("refused by \(refused.joined(separator: ", "))") }
        if requireLive && !silent.isEmpty { problems.append("no answer from \(silent.joined(separator: ", "))") }
        if !problems.isEmpty { throw Failure("\(what): " + problems.joined(separator: "; ")) }
    }
}
