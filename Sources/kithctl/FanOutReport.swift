import Foundation
import KithJSON
import KithLab

/// Prints a fan-out command's per-node table (or its JSON) and fails, after printing it, when the
/// command did not take everywhere its rule requires (see `FanOutRule`, `FanOutTable`).
enum FanOutReport {
    /// Colours only on a terminal, and not when `NO_COLOR` is set or `TERM=dumb`.
    static var colour: Bool {
        let environment = ProcessInfo.processInfo.environment
        return isatty(STDOUT_FILENO) == 1 && (environment["NO_COLOR"] ?? "").isEmpty && environment["TERM"] != "dumb"
    }

    /// The table on stdout (with `json`, each node's JSON object in an array), then a `Failure`
    /// naming the nodes that refused or did not answer though required, suffixed with `hint`.
    static func finish(_ outcomes: [FleetOutcome], json: Bool, what: String, ok: String = "ok",
                       rule: FanOutRule = .allButGone, hint: String = "",
                       detail: (FleetOutcome) -> String? = { _ in nil }) throws {
        let table = FanOutTable(outcomes, what: what, rule: rule, ok: ok, detail: detail)
        if json {
            print(JSON.array(FanOutTable.json(outcomes, rule: rule)).serialized(pretty: true))
        } else {
            print(table.rendered(colour: colour), terminator: "")
        }
        try check(table, hint: hint)
    }

    /// Throws the table's failure, if any, suffixed with `hint`.
    static func check(_ table: FanOutTable, hint: String = "") throws {
        if let failure = table.failure { throw Failure(failure + hint) }
    }
}
