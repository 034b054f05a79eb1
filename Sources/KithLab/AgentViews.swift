import KithControl
import KithCore
import KithReport

/// The agent registry, read through a daemon's control port.
package enum AgentViews {
    /// The records as `kithctl agents` prints them: one row per agent, or "No agents.".
    package static func table(_ agents: [JSON]) -> String {
        guard !agents.isEmpty else { return "No agents.\n" }
        return Table.render(header: ["NAME", "NODE", "PID", "GEN", "STATE", "GUARDIANS", "RESTARTS", "REASON"],
                            rows: agents.map(row))
    }

    private static func row(_ agent: JSON) -> [String] {
        let pid = agent["pid"]?.intValue ?? 0
        let guardians = (agent["guardians"]?.arrayValue ?? []).compactMap(\.stringValue)
        return [Table.cell(agent["name"]), Table.cell(agent["node"]), pid > 0 ? String(pid) : "-",
                Table.cell(agent["generation"]), Table.cell(agent["state"]),
                guardians.isEmpty ? "-" : guardians.joined(separator: ","), Table.cell(agent["restarts"]),
                agent["reason"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "-"]
    }

    /// Every agent record the node at `control` holds, sorted by name.
    package static func records(at control: String, timeoutMilliseconds: Int = 2000) throws -> [JSON] {
        let reply = try ControlClient(address: control, timeoutMilliseconds: timeoutMilliseconds).request(["cmd": "agents"])
        guard let agents = reply["agents"]?.arrayValue else { throw Failure("node at \(control) sent no agents list") }
        return agents.sorted { ($0["name"]?.stringValue ?? "") < ($1["name"]?.stringValue ?? "") }
    }

    /// Name → record at `control`; nil if the node did not answer.
    package static func byName(at control: String, timeoutMilliseconds: Int = 1000) -> [String: JSON]? {
        guard let agents = try? records(at: control, timeoutMilliseconds: timeoutMilliseconds) else { return nil }
        var byName: [String: JSON] = [:]
        for agent in agents { if let name = agent["name"]?.stringValue { byName[name] = agent } }
        return byName
    }

    /// Waits until every agent in `names` is running as `control` sees it;
    /// fails at once if one is failed or stopped, or after `timeout` seconds.
    package static func waitRunning(_ names: Set<String>, at control: String, timeout: Double,
                            check: () throws -> Void = {}) throws -> [String: JSON] {
        var last: [String: JSON] = [:]
        return try Waiting.poll(every: 20, timeout: timeout, "not every agent was running within \(Int(timeout)) s: "
                                + names.sorted().filter { last[$0]?["state"]?.stringValue != "running" }.map {
                                    "\($0) \(last[$0].map { "\(Table.cell($0["state"])) on \(Table.cell($0["node"]))" } ?? "unknown")"
                                }.joined(separator: ", ")) {
            try check()
            guard let agents = byName(at: control) else { return nil }
            last = agents
            for name in names {
                if let state = agents[name]?["state"]?.stringValue, state == "failed" || state == "stopped" {
                    throw Failure("agent \(name) is \(state): \(Table.cell(agents[name]?["reason"]))")
                }
            }
            return names.allSatisfy({ agents[$0]?["state"]?.stringValue == "running" }) ? agents : nil
        }
    }
}
