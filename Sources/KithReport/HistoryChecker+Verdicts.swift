/// No *dead* verdict without a fault, and every guarded agent back in
/// time: rules over what the daemons concluded.
extension HistoryChecker {
    /// A window in which a fault touched a node, and the record that shows it.
    struct Touch {
        var node: String
        var from: Int64
        var until: Int64
        var record: EventRecord
    }

    /// Faults as the daemons recorded them: a kill, shutdown or leave until the node starts again; a
    /// pause for its length; a network fault (`fault_set`, on the sending side) until it expires or is
    /// healed, touching the node and every peer it names; a boot after records of an earlier one (a
    /// crash no daemon could record) from the last record before it.
    func touches() -> [Touch] {
        var touches: [Touch] = []
        let byNode = Dictionary(grouping: history.events, by: \.node)
        for (node, events) in byNode {
            var downSince: EventRecord?
            var previous: EventRecord?
            for event in events {
                switch event.event {
                case "kill_requested", "shutdown_requested", "leaving":
                    downSince = downSince ?? event
                case "started":
                    if let down = downSince {
                        touches.append(Touch(node: node, from: down.ts, until: event.ts, record: down))
                    } else if let previous {
                        touches.append(Touch(node: node, from: previous.ts, until: event.ts, record: event))
                    }
                    downSince = nil
                case "pause_requested":
                    touches.append(Touch(node: node, from: event.ts, until: event.ts + (event.int("for_ms") ?? 0), record: event))
                case "fault_set":
                    let healed = events.first { ["fault_healed", "halted"].contains($0.event) && $0.ts >= event.ts }?.ts ?? .max
                    let until = min(event.ts + (event.int("for_ms") ?? 0), healed)
                    let peers = (event.record["peers"]?.arrayValue ?? []).compactMap(\.stringValue)
                    for touched in [node] + peers { touches.append(Touch(node: touched, from: event.ts, until: until, record: event)) }
                default:
                    break
                }
                previous = event
            }
            if let down = downSince { touches.append(Touch(node: node, from: down.ts, until: .max, record: down)) }
        }
        return touches
    }

    /// A `member_changed` to dead is explained by a fault on the member, or on the observer itself (a
    /// node cut off or paused may rightly lose sight of others), from its start until the verdict lag after its end.
    func deadVerdicts() -> HistoryVerdict.RuleOutcome {
        let verdicts = analyzer.events("member_changed").filter { $0["state"] == "dead" }
        var outcome = HistoryVerdict.RuleOutcome(rule: "dead_verdicts", title: "no dead verdict without a fault",
                                                 checked: verdicts.count, unit: "dead verdicts")
        let touched = Dictionary(grouping: touches(), by: \.node)
        for verdict in verdicts {
            guard let member = verdict["member"] else { continue }
            let explained = (touched[member] ?? []) + (touched[verdict.node] ?? [])
            if explained.contains(where: { $0.from <= verdict.ts && verdict.ts - settings.verdictLagMs <= $0.until }) { continue }
            outcome.violations.append(.init(
                rule: outcome.rule,
                text: "\(verdict.node) declared \(member) dead at \(at(verdict.ts)), and no recorded fault touched either"
                    + " within \(settings.verdictLagMs) ms before",
                records: [verdict]))
        }
        return outcome
    }

    /// Each loss (`agent_changed` to lost, first per generation, unless the cluster already held a newer
    /// generation) of an agent with a running relaunching guardian is followed within the bound by the agent running again: a higher generation, or the
    /// same one back from another state (the host was alive after all). A loss under a kill-switch or a
    /// halt is exempt; one younger than the bound at the end of the history is pending.
    func relaunches() -> HistoryVerdict.RuleOutcome {
        var outcome = HistoryVerdict.RuleOutcome(rule: "relaunch", title: "every guarded lost agent running again in time",
                                                 checked: 0, unit: "losses of guarded agents")
        let changes = analyzer.events("agent_changed")
        var losses: [String: EventRecord] = [:]
        var order: [String] = []
        for change in changes where change["state"] == "lost" {
            let key = "\(change["agent"] ?? "?")#\(change.int("generation") ?? 0)"
            if losses[key] == nil { losses[key] = change; order.append(key) }
        }
        for key in order {
            guard let loss = losses[key], let agent = loss["agent"] else { continue }
            let generation = loss.int("generation") ?? 0
            // A node's stale record of a generation the cluster had already replaced is no loss. "Already":
            // strictly before, since the placement target records the loss and its relaunch in one millisecond.
            if let newest = analyzer.agentState(agent, at: loss.ts - 1), newest.generation > generation { continue }
            guard isGuarded(agent, at: loss.ts), !isSwitchedOff(agent, at: loss.ts), !isHalted(at: loss.ts) else { continue }
            outcome.checked += 1
            let back = changes.first { change in
                guard change["agent"] == agent, change.ts >= loss.ts, change["state"] == "running" else { return false }
                let next = change.int("generation") ?? 0
                return next > generation || (next == generation && change["previous"] != nil && change["previous"] != "running")
            }
            let deadline = loss.ts + settings.relaunchBoundMs
            if let back, back.ts <= deadline { continue }
            if back == nil && deadline > end { outcome.pending += 1; continue }
            let text = back.map { "\(agent) lost at \(at(loss.ts)) ran again only after \($0.ts - loss.ts) ms" }
                ?? "\(agent) lost at \(at(loss.ts)) never ran again (the history ends \(end - loss.ts) ms later)"
            outcome.violations.append(.init(rule: outcome.rule, text: text + " (bound \(settings.relaunchBoundMs) ms)",
                                            records: [loss] + [back].compactMap { $0 }))
        }
        if outcome.checked == 0 && outcome.pending == 0 {
            outcome.notChecked = history.guardians == nil ? "no loss of an agent whose guardians were seen asking to relaunch it"
                : "no loss of a guarded agent"
        }
        return outcome
    }

    /// Some guardian with a relaunching policy was running. Without guardian data, the guardians are the
    /// agents the history shows asking to relaunch it (`relaunch_requested` by): only relaunching agents ask.
    private func isGuarded(_ agent: String, at ts: Int64) -> Bool {
        let guardians = history.guardians?[agent]
            ?? Array(Set(analyzer.events("relaunch_requested").filter { $0["agent"] == agent }.compactMap { $0["by"] }))
        return guardians.contains { guardian in
            guardian != agent && ["running", "starting"].contains(analyzer.agentState(guardian, at: ts)?.state ?? "")
        }
    }

    private func isSwitchedOff(_ agent: String, at ts: Int64) -> Bool {
        guard let switched = analyzer.events("kill_switch").last(where: { $0["agent"] == agent && $0.ts <= ts }) else { return false }
        return !analyzer.events("revive").contains { $0["agent"] == agent && $0.ts > switched.ts && $0.ts <= ts }
    }

    private func isHalted(at ts: Int64) -> Bool {
        guard let halted = analyzer.events("halted").last(where: { $0.ts <= ts }) else { return false }
        return !analyzer.events("resumed").contains { $0.ts > halted.ts && $0.ts <= ts }
    }
}
