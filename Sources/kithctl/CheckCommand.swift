import KithCore
import KithLab
import KithReport

/// `kithctl check [--lab DIR | EVENTS.jsonl...] [--json]`: the history checker over verified logs;
/// exits 1 on any violation or any log that does not verify.
enum CheckCommand {
    static func run(_ arguments: [String]) throws {
        let options = try Arguments(arguments, options: ["--lab"], switches: ["--json"])
        if options.value("--lab") != nil && !options.positionals.isEmpty {
            throw UsageError("'check' takes --lab DIR or events files, not both")
        }
        let loaded = options.positionals.isEmpty
            ? try HistoryCheck.lab(options.value("--lab").map(LabRecord.absolute) ?? LabRecord.defaultDirectory())
            : try HistoryCheck.files(options.positionals)
        let verdict = HistoryChecker(loaded.history).check()
        if options.has("--json") {
            var json = verdict.json.objectValue ?? [:]
            json["logs"] = .array(loaded.logs.map(\.json))
            json["ok"] = .bool(verdict.ok && loaded.brokenLogs.isEmpty)
            print(JSON.object(json).serialized(pretty: true))
        } else {
            for log in loaded.logs { print("\(log.node): \(log.ok ? "verified" : "NOT VERIFIED"), \(log.detail)") }
            print(verdict.text, terminator: "")
        }
        var problems: [String] = []
        if !loaded.brokenLogs.isEmpty {
            problems.append("logs that do not verify (not checked): " + loaded.brokenLogs.map(\.node).joined(separator: ", "))
        }
        if !verdict.ok { problems.append("\(verdict.violations.count) violation\(verdict.violations.count == 1 ? "" : "s")") }
        if !problems.isEmpty { throw Failure("check failed: " + problems.joined(separator: "; ")) }
    }
}
