import Foundation
import KithCore
import KithLab
import KithReport

/// `kithctl report compare DIR DIR [--json]`: two scenario reports side by side.
enum ReportCommands {
    static func run(_ arguments: [String]) throws {
        guard arguments.first == "compare" else {
            throw UsageError("'report' takes a subcommand: kithctl report compare DIR DIR [--json]")
        }
        let options = try Arguments(Array(arguments.dropFirst()), switches: ["--json"])
        guard options.positionals.count == 2 else {
            throw UsageError("'report compare' takes two report directories (or report.json files): kithctl report compare A B")
        }
        let reports = try options.positionals.map(load)
        let comparison = try ReportComparison(left: reports[0], leftName: options.positionals[0],
                                              right: reports[1], rightName: options.positionals[1])
        if options.has("--json") {
            print(comparison.json.serialized(pretty: true))
        } else {
            for line in comparison.lines { print(line) }
        }
    }

    /// A report directory's report.json (or the file itself).
    private static func load(_ path: String) throws -> JSON {
        var isDirectory: ObjCBool = false
        let file = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? path + "/report.json" : path
        guard let data = FileManager.default.contents(atPath: file) else {
            throw UsageError("cannot read \(file): give a report directory written by kithctl run")
        }
        do {
            return try JSON.parse(bytes: Array(data))
        } catch {
            throw UsageError("\(file) is not JSON: \(error)")
        }
    }
}
