import Foundation
import KithLab

/// `dashboard [--lab DIR]`: the URL of the live dashboard (kithd's `/`) of a lab's first running node.
/// When that node guards its endpoint with `--http-token-file`, the URL carries the token in its
/// fragment (`#token=...`), which the browser keeps to itself: the page reads it, sends it as a bearer
/// token on every request, and the server never sees or logs it in a request line.
enum DashboardCommand {
    static func run(_ arguments: [String]) throws {
        let options = try Arguments(arguments, options: ["--lab", "--dir"])
        try options.expectPositionals([], command: "dashboard")
        let directory = LabRecord.absolute(options.value("--lab") ?? options.value("--dir") ?? LabRecord.defaultDirectory())
        guard let record = try LabRecord.load(from: directory) else { throw Failure("no lab in \(directory) ('kithctl lab up' starts one)") }
        let served = record.nodes.filter { $0.http != nil }
        // A node whose process is gone cannot serve the page; the first one still running can.
        guard let node = served.first(where: { kill($0.pid, 0) == 0 }) ?? served.first, let http = node.http else {
            throw Failure("the lab in \(directory) runs no daemon with --http (started before it had one?)")
        }
        print(try DashboardURL.url(http: http, tokenFile: node.httpTokenFile))
    }
}
