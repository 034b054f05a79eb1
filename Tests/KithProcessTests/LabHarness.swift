import KithLab
import Foundation
import Glibc
import KithCore
import KithControl

/// A lab of real daemons on 127.0.0.1 for one test, driven through `kithctl lab`
/// as an operator would. This process is made a subreaper, so once kithctl exits
/// the daemons are our children: tests read their exit status and `shutdown`
/// kills and reaps every one, whatever the test did.
final class LabHarness {
    struct Node {
        var name: String
        var pid: Int32
        var listen: String
        var control: String
    }

    /// Generous bound for every wait; the daemon's targets are 1-3 s.
    static let timeout = 20.0

    let directory: String
    private(set) var nodes: [Node] = []
    /// Every daemon pid ever recorded, so a restarted node's old boot is cleaned up too.
    private var startedPids: Set<Int32> = []

    init() {
        _ = Subprocess.becomeSubreaper
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kith-test-\(UUID().uuidString)").path
    }

    /// Starts `count` daemons with `kithctl lab up` (plus `labArguments`, such
    /// as `--agents 2`) and waits until all see each other alive.
    func start(nodes count: Int, labArguments: [String] = []) throws {
        let result = try kithctl(["lab", "up", "--nodes", String(count), "--kithd", Binaries.kithd] + labArguments)
        try reloadRecord()
        guard result.status == 0 else {
            throw HarnessError("kithctl lab up exited \(result.status): \(result.stderr)")
        }
        try waitUntil("all \(count) nodes see each other alive") { allSee(nodes.map(\.name), as: "alive") }
    }

    /// The lab's kithctl configuration directory ($XDG_CONFIG_HOME): its
    /// operator key (made by `lab up`) and pinned node keys, never the user's.
    var configHome: String { directory + "/config" }

    /// Runs kithctl against this lab's directory; fails the call only if kithctl could not run.
    @discardableResult
    func kithctl(_ arguments: [String], environment: [String: String] = [:]) throws -> Finished {
        let result = try Subprocess.run(Binaries.kithctl, arguments + (arguments.first == "lab" ? ["--dir", directory] : []),
                                        environment: ["XDG_CONFIG_HOME": configHome, "KITH_OPERATOR_KEY": ""]
                                            .merging(environment) { _, given in given })
        try? reloadRecord()
        return result
    }

    func node(_ name: String) -> Node {
        guard let node = nodes.first(where: { $0.name == name }) else { fatalError("no node \(name) in the lab") }
        return node
    }

    func client(_ name: String) -> ControlClient {
        ControlClient(address: node(name).control, timeoutMilliseconds: 1000)
    }

    /// Member name → state in `observer`'s table, nil if it did not answer.
    func states(seenBy observer: String) -> [String: String]? {
        guard let reply = try? client(observer).request(["cmd": "members"]),
              let members = reply["members"]?.arrayValue else { return nil }
        var states: [String: String] = [:]
        for member in members {
            if let name = member["name"]?.stringValue, let state = member["state"]?.stringValue { states[name] = state }
        }
        return states
    }

    /// Whether every observer (default: every node) lists every subject in `state`.
    func allSee(_ subjects: [String], as state: String, observers: [String]? = nil) -> Bool {
        (observers ?? nodes.map(\.name)).allSatisfy { observer in
            guard let states = states(seenBy: observer) else { return false }
            return subjects.allSatisfy { states[$0] == state }
        }
    }

    /// Polls `condition` every 20 ms until it holds; throws after `timeout` seconds.
    func waitUntil(_ what: String, timeout: Double = LabHarness.timeout, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            guard Date() < deadline else {
                let views = nodes.map { "\($0.name): \(states(seenBy: $0.name)?.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") ?? "no answer")" }
                throw HarnessError("not within \(Int(timeout)) s: \(what)\n" + views.joined(separator: "\n"))
            }
            usleep(20_000)
        }
    }

    /// The exit status of a lab daemon (our child since kithctl exited), nil if it is still running after `timeout`.
    func waitForExit(_ name: String, timeout: Double) -> Int32? {
        Subprocess.waitForExit(node(name).pid, timeout: timeout)
    }

    /// SIGKILLs every daemon this lab ever started and reaps it, then every
    /// agent process its daemons started (found by its log under the lab
    /// directory; a killed daemon's agents may outlive it). Keeps the
    /// directory (logs) when asked, so a failed test can be investigated.
    func shutdown(keepingFiles: Bool) {
        for pid in startedPids {
            kill(pid, SIGCONT)
            kill(pid, SIGKILL)
            _ = Subprocess.waitForExit(pid, timeout: 5)
        }
        startedPids.removeAll()
        for pid in agentProcesses().keys {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
            _ = Subprocess.waitForExit(pid, timeout: 5)  // orphans are ours to reap (we are their subreaper)
        }
        if keepingFiles {
            print("kith test lab kept in \(directory)")
        } else {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Pids of the processes whose output goes to an agent log of this lab
    /// (`DIR/NODE/agents/NAME.log`), with that log's path.
    func agentProcesses() -> [Int32: String] {
        let prefix = directory + "/"
        var found: [Int32: String] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(),
                  let output = Processes.agentLog(of: pid), output.hasPrefix(prefix), output.contains("/agents/") else { continue }
            found[pid] = output
        }
        return found
    }

    private func reloadRecord() throws {
        guard let data = FileManager.default.contents(atPath: directory + "/lab.json") else { return }
        let record = try JSON.parse(bytes: data)
        nodes = (record["nodes"]?.arrayValue ?? []).compactMap { node in
            guard let name = node["name"]?.stringValue, let pid = node["pid"]?.intValue,
                  let listen = node["listen"]?.stringValue, let control = node["control"]?.stringValue else { return nil }
            return Node(name: name, pid: Int32(pid), listen: listen, control: control)
        }
        startedPids.formUnion(nodes.map(\.pid))
    }
}
