import Foundation
import KithCore

/// One daemon of a lab: enough to find, signal and restart it.
package struct LabNode {
    package var name: String
    package var pid: Int32
    package var listen: String
    package var control: String
    package var dataDir: String
    /// kithd's arguments (without the program name), reused verbatim by `lab start`.
    package var args: [String]

    package var logPath: String { dataDir + "/kithd.log" }

    /// The daemon's HTTP endpoint (`--http` in its args), nil when it has none (a lab from before `--http`).
    package var http: String? {
        guard let flag = args.lastIndex(of: "--http"), flag + 1 < args.count else { return nil }
        return args[flag + 1]
    }
}

/// `lab.json`: what `lab up` started, so later kithctl runs, or a cleanup after
/// a crash, can find the daemons without any process of kithctl staying alive.
package struct LabRecord {
    package var kithd: String
    package var nodes: [LabNode]
    /// The public key of the operator whose commands the daemons obey (also in each node's args).
    package var operatorKey: String?
    /// kithd's `--relaunch-quorum` (any or majority) when `lab up` was given one (also in each node's args).
    package var relaunchQuorum: String? = nil

    package static let fileName = "lab.json"

    /// `$KITH_LAB_DIR`, else `.kith-lab` in the current directory; always absolute,
    /// because data directories recorded from it are matched against /proc cmdlines.
    package static func defaultDirectory() -> String {
        let environment = ProcessInfo.processInfo.environment["KITH_LAB_DIR"]
        return absolute(environment.flatMap { $0.isEmpty ? nil : $0 } ?? ".kith-lab")
    }

    package static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The record in `directory`, nil when there is none.
    package static func load(from directory: String) throws -> LabRecord? {
        let path = directory + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let json: JSON
        do {
            json = try JSON.parse(bytes: data)
        } catch {
            throw Failure("\(path) is not valid JSON: \(error)")
        }
        guard let kithd = json["kithd"]?.stringValue, let nodes = json["nodes"]?.arrayValue else {
            throw Failure("\(path) lacks 'kithd' or 'nodes'")
        }
        return LabRecord(kithd: kithd, nodes: try nodes.map { node in
            guard let name = node["name"]?.stringValue, let pid = node["pid"]?.intValue,
                  let listen = node["listen"]?.stringValue, let control = node["control"]?.stringValue,
                  let dataDir = node["data_dir"]?.stringValue, let args = node["args"]?.arrayValue else {
                throw Failure("\(path) has an incomplete node entry: \(node.serialized())")
            }
            return LabNode(name: name, pid: Int32(truncatingIfNeeded: pid), listen: listen, control: control,
                           dataDir: dataDir, args: args.compactMap(\.stringValue))
        }, operatorKey: json["operator_key"]?.stringValue, relaunchQuorum: json["relaunch_quorum"]?.stringValue)
    }

    /// Written to a temporary file and renamed, so a crash never leaves half a record.
    package func save(to directory: String) throws {
        let nodes: [JSON] = nodes.map { node in
            ["name": .string(node.name), "pid": .int(Int64(node.pid)), "listen": .string(node.listen),
             "control": .string(node.control), "data_dir": .string(node.dataDir),
             "args": .array(node.args.map(JSON.string))]
        }
        var json: JSON = ["kithd": .string(kithd), "nodes": .array(nodes)]
        if let operatorKey, case .object(var object) = json {
            object["operator_key"] = .string(operatorKey)
            json = .object(object)
        }
        if let relaunchQuorum, case .object(var object) = json {
            object["relaunch_quorum"] = .string(relaunchQuorum)
            json = .object(object)
        }
        try (json.serialized(pretty: true) + "\n").write(toFile: directory + "/" + Self.fileName, atomically: true, encoding: .utf8)
    }

    /// Passes `--relaunch-quorum quorum` to every daemon (kept in its args for `lab start`) and records it.
    package mutating func setRelaunchQuorum(_ quorum: String?) {
        guard let quorum else { return }
        relaunchQuorum = quorum
        for index in nodes.indices { nodes[index].args += ["--relaunch-quorum", quorum] }
    }

    package static func remove(from directory: String) throws {
        try FileManager.default.removeItem(atPath: directory + "/" + fileName)
    }

    /// The index of the node called `name`, or a failure naming the nodes there are.
    package func index(of name: String) throws -> Int {
        guard let index = nodes.firstIndex(where: { $0.name == name }) else {
            throw Failure("the lab has no node '\(name)' (it has \(nodes.map(\.name).joined(separator: ", ")))")
        }
        return index
    }
}
