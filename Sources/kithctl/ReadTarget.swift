import Foundation
import KithControl
import KithCore
import KithLab

/// Which daemon a command talks to: `--node` as a control address or as a member's name, and for read
/// commands without `--node`, the first known node that answers (the default one may be the node the
/// operator just killed).
enum ReadTarget {
    /// How long a read command waits for a node unless `--timeout` says otherwise.
    static let timeoutMillisecondsDefault = 2000

    /// `--node` as given: HOST:PORT is used as is; a bare name is looked up among the default lab's
    /// nodes, then in the membership table of a node that answers.
    static func resolve(_ node: String?) throws -> String? {
        guard let node, !node.contains(":") else { return node }
        if let record = try? LabRecord.load(from: LabRecord.defaultDirectory()),
           let found = record.nodes.first(where: { $0.name == node }) {
            return found.control
        }
        let members = try Fleet.discover(nil)
        return try Fleet.member(node, in: members).control
    }

    /// The nodes a read is tried at, in order: the default node, the default lab's other nodes, then
    /// the control addresses of the members last seen (`remember`), for clusters that are not labs.
    static func candidates() -> [String] {
        var addresses = [Fleet.defaultNode()]
        if let record = try? LabRecord.load(from: LabRecord.defaultDirectory()) {
            for node in record.nodes where !addresses.contains(node.control) { addresses.append(node.control) }
        }
        for address in remembered() where !addresses.contains(address) { addresses.append(address) }
        return addresses
    }

    /// `CONFIG/known_controls.json`: the control addresses of the members a read last listed.
    static var knownControlsPath: String { OperatorKey.configDirectory + "/known_controls.json" }
    /// At most this many remembered addresses.
    static let rememberedMax = 64

    static func remembered() -> [String] {
        guard let data = FileManager.default.contents(atPath: knownControlsPath),
              let list = (try? JSON.parse(bytes: data))?.arrayValue else { return [] }
        return Array(list.compactMap(\.stringValue).filter { $0.contains(":") }.prefix(rememberedMax))
    }

    /// Keeps `addresses` for the next fallback (best effort: a read never fails for want of a cache).
    static func remember(_ addresses: [String]) {
        let kept = Array(addresses.filter { !$0.isEmpty }.sorted().prefix(rememberedMax))
        guard !kept.isEmpty, kept != remembered() else { return }
        try? FileManager.default.createDirectory(atPath: OperatorKey.configDirectory, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        try? (JSON.array(kept.map(JSON.string)).serialized() + "\n").write(toFile: knownControlsPath, atomically: true, encoding: .utf8)
    }

    /// The cluster as a node that answers sees it (for commands that fan out), remembered for next time.
    static func discover(_ node: String?) throws -> [FleetMember] {
        let members = try Fleet.discover(node ?? answering(nil))
        remember(members.map(\.control))
        return members
    }

    /// Sends a read-only `request` to `node`, or without one to each candidate in turn until one answers;
    /// says on stderr which node answered when it was not the first. A refusal is final (the node answered).
    static func request(_ request: JSON, node: String?, timeoutMilliseconds: Int) throws -> JSON {
        if let node { return try ControlClient(address: node, timeoutMilliseconds: timeoutMilliseconds).request(request) }
        let addresses = candidates()
        var failures: [String] = []
        for address in addresses {
            do {
                let reply = try ControlClient(address: address, timeoutMilliseconds: timeoutMilliseconds).request(request)
                if !failures.isEmpty { printError("kithctl: \(failures.joined(separator: "; ")); \(address) answered") }
                return reply
            } catch {
                if case .rejected = error { throw error }
                failures.append("\(address) did not answer")
            }
        }
        throw Failure("no known node answered (tried \(addresses.joined(separator: ", ")))")
    }

    /// A node that answers, for commands that take an address: `node` itself when given.
    static func answering(_ node: String?, timeoutMilliseconds: Int = timeoutMillisecondsDefault) throws -> String {
        if let node { return node }
        for address in candidates() {
            if (try? ControlClient(address: address, timeoutMilliseconds: timeoutMilliseconds).request(["cmd": "status"])) != nil {
                return address
            }
        }
        return Fleet.defaultNode()  // none answers: let the command report it
    }
}

extension Arguments {
    /// `--timeout DURATION` of a read command, in milliseconds.
    func timeoutMilliseconds() throws(UsageError) -> Int {
        try milliseconds("--timeout", default: ReadTarget.timeoutMillisecondsDefault, in: 1...600_000)
    }
}
