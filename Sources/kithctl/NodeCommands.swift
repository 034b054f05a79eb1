import Foundation
import KithControl
import KithCore
import KithLab
import KithReport

/// `members` and `status`: one request to one daemon (without `--node`, the first known node that
/// answers), printed for people or as JSON.
enum NodeCommands {
    static func members(_ arguments: [String], node: String?) throws {
        let options = try Arguments(arguments, options: ["--timeout"], switches: ["--json"])
        try options.expectPositionals([], command: "members")
        let reply = try ReadTarget.request(["cmd": "members"], node: node, timeoutMilliseconds: options.timeoutMilliseconds())
        guard let members = reply["members"]?.arrayValue else {
            throw Failure("node at \(node ?? "the default address") sent no members list")
        }
        ReadTarget.remember(members.compactMap { $0["control"]?.stringValue })
        let sorted = members.sorted { ($0["name"]?.stringValue ?? "") < ($1["name"]?.stringValue ?? "") }
        if options.has("--json") {
            print(JSON.array(sorted).serialized(pretty: true))
            return
        }
        let rows = sorted.map { member in
            [Table.cell(member["name"]), Table.cell(member["address"]), Table.cell(member["state"]),
             Table.cell(member["incarnation"]), member["changed_ms_ago"]?.doubleValue.map(Table.ago) ?? "-"]
        }
        print(Table.render(header: ["NAME", "ADDRESS", "STATE", "INCARNATION", "CHANGED"], rows: rows), terminator: "")
    }

    static func status(_ arguments: [String], node: String?) throws {
        let options = try Arguments(arguments, options: ["--timeout"], switches: ["--json"])
        try options.expectPositionals([], command: "status")
        let reply = try ReadTarget.request(["cmd": "status"], node: node, timeoutMilliseconds: options.timeoutMilliseconds())
        if options.has("--json") {
            print(reply.serialized(pretty: true))
            return
        }
        print(Table.render(header: nil, rows: statusRows(reply)), terminator: "")
    }

    /// The fields an operator reads first, readably; then any others the daemon added, as given.
    private static func statusRows(_ reply: JSON) -> [[String]] {
        var rows: [[String]] = []
        var shown: Set<String> = ["ok"]
        func row(_ label: String, _ keys: [String], _ format: () -> String?) {
            guard let text = format() else { return }
            rows.append([label, text])
            shown.formUnion(keys)
        }
        for key in ["name", "uid", "listen", "control", "incarnation", "local_health"] {
            row(key.replacingOccurrences(of: "_", with: " "), [key]) { reply[key].map { Table.cell($0) } }
        }
        row("uptime", ["uptime_ms"]) { reply["uptime_ms"]?.doubleValue.map(Table.duration) }
        row("members", ["counts"]) {
            guard let counts = reply["counts"] else { return nil }
            return ["alive", "suspect", "dead", "left"].map { "\(Table.cell(counts[$0])) \($0)" }.joined(separator: ", ")
        }
        row("gossip", ["gossip_bytes_sent", "gossip_bytes_received"]) {
            guard let sent = reply["gossip_bytes_sent"]?.doubleValue,
                  let received = reply["gossip_bytes_received"]?.doubleValue else { return nil }
            return "\(Table.bytes(sent)) sent, \(Table.bytes(received)) received"
        }
        row("frames rejected", ["frames_rejected"]) { reply["frames_rejected"].map { Table.cell($0) } }
        // Says plainly when agents are not contained ("containment: none") and why.
        row("containment", ["containment"]) {
            guard let mode = reply["containment"]?["mode"]?.stringValue else { return nil }
            return mode + (reply["containment"]?["reason"]?.stringValue.map { " (\($0))" } ?? "")
        }
        row("rss", ["rss_bytes"]) { reply["rss_bytes"]?.doubleValue.map(Table.bytes) }
        row("cpu", ["cpu_ms"]) { reply["cpu_ms"]?.doubleValue.map(Table.duration) }
        for (key, value) in (reply.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) where !shown.contains(key) {
            rows.append([key.replacingOccurrences(of: "_", with: " "), Table.cell(value)])
        }
        return rows
    }
}
