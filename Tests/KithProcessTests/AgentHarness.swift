import Foundation
import Glibc
import KithControl
import KithCore

/// Agents in a `LabHarness` lab: the registry as each node sees it, the agent
/// processes (found by their logs, never trusted from a record alone), their
/// logs and the daemons' structured logs.
extension LabHarness {
    /// The reference agent, built next to kithctl.
    static let kithAgent = URL(fileURLWithPath: Binaries.kithctl).deletingLastPathComponent().appendingPathComponent("kith-agent").path

    /// `lab up` options for K reference agents per node in the ring (nI-aJ protects n(I+1)-a*).
    static func agentRing(perNode: Int, policy: String) -> [String] {
        ["--agents", String(perNode), "--policy", policy, "--kith-agent", kithAgent]
    }

    /// kithctl talking to `node`'s control port.
    @discardableResult
    func kithctl(on node: String, _ arguments: [String]) throws -> Finished {
        try kithctl(["--node", self.node(node).control] + arguments)
    }

    /// Agent name → record in `observer`'s registry, nil if it did not answer.
    func agents(seenBy observer: String) -> [String: JSON]? {
        guard let reply = try? client(observer).request(["cmd": "agents"]), let agents = reply["agents"]?.arrayValue else { return nil }
        var byName: [String: JSON] = [:]
        for agent in agents { if let name = agent["name"]?.stringValue { byName[name] = agent } }
        return byName
    }

    func status(of node: String) -> JSON? {
        try? client(node).request(["cmd": "status"])
    }

    /// Polls until every observer's record of `name` satisfies `condition` and
    /// all observers hold the same node, generation, pid and state; returns that record.
    @discardableResult
    func waitForAgent(_ name: String, seenBy observers: [String], _ what: String, timeout: Double = LabHarness.timeout,
                      _ condition: (JSON) -> Bool) throws -> JSON {
        var agreed: JSON?
        var last: [String] = []
        do {
            try waitUntil(what, timeout: timeout) {
                let records = observers.map { agents(seenBy: $0)?[name] }
                last = zip(observers, records).map { "\($0) sees \($1.map(Self.summary) ?? "nothing")" }
                guard let first = records.first ?? nil, condition(first),
                      records.allSatisfy({ $0.map(Self.summary) == Self.summary(first) }) else { return false }
                agreed = first
                return true
            }
        } catch {
            throw HarnessError("\(error)\n\(name): \(last.joined(separator: "; "))")
        }
        return agreed!
    }

    static func summary(_ record: JSON) -> String {
        "\(record["state"]?.stringValue ?? "?") on \(record["node"]?.stringValue ?? "?") gen \(record["generation"]?.intValue ?? -1) pid \(record["pid"]?.intValue ?? -1)"
    }

    /// What the agent printed on `node` (DATA_DIR/agents/NAME.log), empty if nothing: each line's text
    /// without its time and stream (`AgentLogLine`), the daemon's own lines included.
    func agentLog(_ name: String, on node: String) -> String {
        let log = String(decoding: FileManager.default.contents(atPath: "\(directory)/\(node)/agents/\(name).log") ?? Data(), as: UTF8.self)
        return log.split(separator: "\n", omittingEmptySubsequences: false).map { AgentLogLine.parse(String($0)).text }
            .joined(separator: "\n")
    }

    /// The daemon's structured log events called `event` (its kithd.log, one JSON object a line).
    func daemonEvents(on node: String, _ event: String) -> [JSON] {
        let text = String(decoding: FileManager.default.contents(atPath: "\(directory)/\(node)/kithd.log") ?? Data(), as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            guard line.contains("\"\(event)\""), let json = try? JSON.parse(String(line)), json["event"]?.stringValue == event else { return nil }
            return json
        }
    }

    /// Agent name → pids of live processes running as it (by log file), anywhere in the lab.
    func liveAgentProcesses() -> [String: [Int32]] {
        var byAgent: [String: [Int32]] = [:]
        for (pid, log) in agentProcesses() where Pids.isAlive(pid) {
            let name = URL(fileURLWithPath: log.replacingOccurrences(of: " (deleted)", with: "")).deletingPathExtension().lastPathComponent
            byAgent[name, default: []].append(pid)
        }
        return byAgent
    }
}

extension JSON {
    /// Whether this is an object with `key` (whatever its value, null included).
    func has(_ key: String) -> Bool { objectValue?.keys.contains(key) == true }
}

enum Pids {
    /// Whether `pid` runs: not gone and not a zombie. Reaps it if it is our zombie
    /// (agents whose daemon was killed are orphans this subreaper inherits).
    static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        _ = waitpid(pid, nil, WNOHANG)
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }
}

/// An agent the test speaks for: its command only records the identity the
/// daemon gave it (node, generation, socket, token) in a file and sleeps, so
/// the test can connect to the agent socket with the real token, say hello
/// (or not) and read exactly what the daemon delivers to the agent.
struct ProbeAgent {
    var node: String
    var generation: Int
    var socket: String
    var token: String

    /// `kithctl agent start` arguments after `--`; identities go to DIR/NAME-GENERATION.id.
    static func command(directory: String) -> [String] {
        let script = #"printf '%s %s %s %s\n' "$KITH_NODE" "$KITH_GENERATION" "$KITH_SOCKET" "$KITH_TOKEN" > "$0/$KITH_AGENT.tmp" && "#
            + #"mv "$0/$KITH_AGENT.tmp" "$0/$KITH_AGENT-$KITH_GENERATION.id" && exec sleep 600"#
        return ["/bin/sh", "-c", script, directory]
    }

    /// Waits for generation `generation` of probe `name` to have recorded its identity.
    static func wait(_ name: String, generation: Int, directory: String, lab: LabHarness) throws -> ProbeAgent {
        let path = "\(directory)/\(name)-\(generation).id"
        var probe: ProbeAgent?
        try lab.waitUntil("probe \(name) generation \(generation) starts and records its identity in \(path)") {
            guard let data = FileManager.default.contents(atPath: path) else { return false }
            let fields = String(decoding: data, as: UTF8.self).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            guard fields.count == 4, let generation = Int(fields[1]) else { return false }
            probe = ProbeAgent(node: fields[0], generation: generation, socket: fields[2], token: fields[3])
            return true
        }
        return probe!
    }
}

/// A client of a daemon's agent socket, speaking JSON lines as an agent would
/// (or as a hostile process pretending to be one).
final class AgentSocket {
    private let fd: Int32
    private var buffer: [UInt8] = []
    /// Event lines that arrived while waiting for a reply.
    private var events: [JSON] = []
    private var nextID = 1

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { close(fd); throw HarnessError("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HarnessError("cannot connect to \(path): \(reason)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit { close(fd) }

    /// Writes `bytes` as they are; false if the daemon closed the connection first.
    @discardableResult
    func sendRaw(_ bytes: [UInt8], timeout: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent > 0 {
                offset += sent
            } else if sent < 0 && (errno == EAGAIN || errno == EINTR) && Date() < deadline {
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&descriptor, 1, 50)
            } else {
                return false
            }
        }
        return true
    }

    /// Sends one request with an id and returns the reply with that id; events that arrive meanwhile are kept.
    func call(_ request: JSON, timeout: Double = 10) throws -> JSON {
        var object = request.objectValue ?? [:]
        let id = nextID
        nextID += 1
        object["id"] = .int(Int64(id))
        return try callRaw(Array(JSON.object(object).serialized().utf8), timeout: timeout) { $0["id"]?.intValue == Int64(id) }
    }

    /// Sends a raw line (a newline is added) and returns the first reply (a line with "ok") that `matches`.
    func callRaw(_ line: [UInt8], timeout: Double = 10, matches: (JSON) -> Bool = { _ in true }) throws -> JSON {
        guard sendRaw(line + [UInt8(ascii: "\n")]) else { throw HarnessError("the daemon closed the agent socket") }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            guard let line = try readLine(until: deadline) else { throw HarnessError("the daemon closed the agent socket before replying") }
            guard let json = try? JSON.parse(line) else { throw HarnessError("the daemon sent a line that is not JSON: \(line)") }
            if json.has("ok") && matches(json) { return json }
            if json.has("event") { events.append(json) }
        }
    }

    /// The next pushed event that satisfies `matches`, skipping others.
    func nextEvent(timeout: Double = LabHarness.timeout, where matches: (JSON) -> Bool = { _ in true }) throws -> JSON {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let index = events.firstIndex(where: matches) { return events.remove(at: index) }
            events.removeAll()
            guard let line = try readLine(until: deadline) else { throw HarnessError("the daemon closed the agent socket while we waited for an event") }
            if let json = try? JSON.parse(line), json.has("event") { events.append(json) }
        }
    }

    /// Whether the daemon closes the connection within `timeout` (reading and dropping whatever it sends first).
    func closedByDaemon(within timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        do {
            while try readLine(until: deadline) != nil {}
            return true
        } catch {
            return false
        }
    }

    /// The next line, nil when the daemon closed the connection; throws at `deadline`.
    private func readLine(until deadline: Date) throws -> String? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                buffer += chunk[..<count]
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                return nil
            } else {
                let remaining = deadline.timeIntervalSinceNow
                guard remaining > 0 else { throw HarnessError("no line from the daemon in time") }
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&descriptor, 1, Int32(min(remaining, 0.1) * 1000) + 1)
            }
        }
    }
}
