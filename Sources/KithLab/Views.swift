import KithControl
import KithCore

/// How daemons see each other, read through their control ports.
package enum Views {
    /// Member name → state in the daemon at `control`'s table; nil if it did not answer.
    /// A name listed twice (an old boot beside a restart) reads as its newest uid.
    package static func states(at control: String, timeoutMilliseconds: Int = 1000) -> [String: String]? {
        guard let reply = try? ControlClient(address: control, timeoutMilliseconds: timeoutMilliseconds).request(["cmd": "members"]),
              let members = reply["members"]?.arrayValue else { return nil }
        var newest: [String: (uid: UInt64, state: String)] = [:]
        for member in members {
            guard let name = member["name"]?.stringValue, let state = member["state"]?.stringValue else { continue }
            let uid = member["uid"]?.stringValue.flatMap { UInt64($0, radix: 16) } ?? 0
            if newest[name].map({ $0.uid <= uid }) ?? true { newest[name] = (uid, state) }
        }
        return newest.mapValues(\.state)
    }

    package static func answersStatus(_ control: String) -> Bool {
        (try? ControlClient(address: control, timeoutMilliseconds: 500).request(["cmd": "status"])) != nil
    }

    /// Waits until every node lists every node of `nodes` alive; `check` runs each round to fail early.
    package static func waitConverged(_ nodes: [LabNode], timeout: Double, check: () throws -> Void = {}) throws {
        var converged: Set<String> = []
        var lastSeen: [String: String] = [:]
        try Waiting.poll(every: 20, timeout: timeout, "the nodes did not all see each other alive within \(Int(timeout)) s: "
                         + nodes.map { "\($0.name) \(lastSeen[$0.name] ?? "did not answer")" }.joined(separator: "; ")) {
            try check()
            for node in nodes where !converged.contains(node.name) {
                guard let states = states(at: node.control, timeoutMilliseconds: 500) else { continue }
                let alive = nodes.filter { states[$0.name] == "alive" }.count
                lastSeen[node.name] = "sees \(alive) of \(nodes.count) alive"
                if alive == nodes.count { converged.insert(node.name) }
            }
            return converged.count == nodes.count ? () : nil
        }
    }

    /// Polls every observer until each lists `subject` as `target`, and returns
    /// for each the milliseconds from `since` until it first did. `report` hears
    /// every change in an observer's view of `subject`, for live output.
    package static func waitFor(_ subject: String, toBe target: String, by observers: [LabNode],
                        since: ContinuousClock.Instant, timeout: Double,
                        report: (_ observer: String, _ state: String, _ milliseconds: Double) -> Void = { _, _, _ in }) throws -> [String: Double] {
        var reached: [String: Double] = [:]
        var lastSeen: [String: String] = [:]
        return try Waiting.poll(every: 20, timeout: timeout, "not every node saw \(subject) \(target) within \(Int(timeout)) s: "
                                + observers.map { "\($0.name) sees \(lastSeen[$0.name] ?? "nothing")" }.joined(separator: "; ")) {
            for observer in observers where reached[observer.name] == nil {
                guard let states = states(at: observer.control, timeoutMilliseconds: 500) else { continue }
                let state = states[subject] ?? "absent"
                let elapsed = Waiting.milliseconds(since: since)
                if lastSeen[observer.name] != state {
                    lastSeen[observer.name] = state
                    report(observer.name, state, elapsed)
                }
                if state == target { reached[observer.name] = elapsed }
            }
            return reached.count == observers.count ? reached : nil
        }
    }
}
