/// The agent registry's directives as the node carries them over, routing
/// of agent messages, and the config agents' start rule.
extension NodeCore {
    mutating func absorb(_ directives: [AgentDirective], now: Instant, into out: inout [NodeDirective]) {
        for directive in directives {
            switch directive {
            case let .send(message, to: endpoint):
                out.append(.send(message, to: endpoint))
            case let .spawn(record, checkpoint):
                out.append(.spawn(record, checkpoint: checkpoint))
            case let .kill(agent, generation, reason):
                out.append(.record(NodeEvent(.info, "agent_stopping", ["agent": .string(agent),
                                                                     "generation": .int(Int64(generation)),
                                                                     "reason": .string(reason)])))
                out.append(.stopAgent(agent, generation: generation))
            case let .notify(guardians, event):
                for guardian in guardians { out.append(.push(Self.eventJSON(event), to: guardian)) }
            case let .checkpointAcknowledged(agent, seq, replicas):
                if let origin = pendingCheckpointReplies[agent]?.removeValue(forKey: seq) {
                    if pendingCheckpointReplies[agent]?.isEmpty == true { pendingCheckpointReplies[agent] = nil }
                    out.append(.replyAgent(origin, ["ok": true, "seq": .int(Int64(seq)), "replicas": .int(Int64(replicas))]))
                }
            case let .changed(record, previous):
                if previous?.state != record.state || previous?.generation != record.generation
                    || previous?.host != record.host {
                    out.append(.record(NodeEvent(.info, "agent_changed", [
                        "agent": .string(record.name), "generation": .int(Int64(record.generation)),
                        "host": .string(record.host), "state": .string(record.state.rawValue),
                        "previous": previous.map { .string($0.state.rawValue) } ?? .null,
                        "reason": .string(record.reason),
                    ])))
                }
                if record.state == .running || record.host == me.name { flushHeld(for: record.name, now: now, into: &out) }
            case let .relaunchRefused(agent, by, reason):
                out.append(.record(NodeEvent(.warn, "relaunch_refused", ["agent": .string(agent), "by": .string(by),
                                                                         "reason": .string(reason)])))
            case let .resistance(agent, by, attempt):
                out.append(.record(NodeEvent(.warn, "resistance_attempt", ["agent": .string(agent), "by": .string(by),
                                                                           "attempt": .string(attempt)])))
            case let .freeze(agent, _):
                out.append(.freezeAgent(agent))
            case let .thaw(agent, _):
                out.append(.thawAgent(agent))
            case let .shieldAttempt(agent, by, attempt):
                out.append(.record(NodeEvent(.warn, "shield_attempt", ["agent": .string(agent), "by": .string(by),
                                                                       "attempt": .string(attempt)])))
            case let .tombstonesChanged(tombstones):
                out.append(.persistTombstones(tombstones))
            case let .staleRefused(what, agent, generation, newest, from):
                out.append(.record(NodeEvent(.warn, "stale_refused", ["what": .string(what), "agent": .string(agent),
                                                                      "generation": .int(Int64(generation)),
                                                                      "newest": .int(Int64(newest)), "peer": .string(from)])))
            case let .forgedRefused(what, agent, from, reason):
                out.append(.record(NodeEvent(.warn, "forged_refused", ["what": .string(what), "agent": .string(agent),
                                                                       "peer": .string(from), "reason": .string(reason)])))
            }
        }
    }

    /// What a guardian hears, as the agent API's event line.
    public static func eventJSON(_ event: AgentEvent) -> JSON {
        switch event {
        case let .peerLost(peer, node, generation, reason):
            ["event": "peer_lost", "peer": .string(peer), "node": .string(node),
             "generation": .int(Int64(generation)), "reason": .string(reason)]
        case let .peerRelaunched(peer, node, generation):
            ["event": "peer_relaunched", "peer": .string(peer), "node": .string(node), "generation": .int(Int64(generation))]
        case let .peerStopped(peer):
            ["event": "peer_stopped", "peer": .string(peer)]
        }
    }

    // MARK: Routing

    /// Routes one agent message to wherever its receiver runs now, or holds
    /// it while the receiver is being relaunched; `origin` hears refusals.
    /// False when the core refused it (the shell may still fail a delivery).
    @discardableResult
    mutating func route(_ message: AgentMessage, origin: RouteOrigin, now: Instant, into out: inout [NodeDirective]) -> Bool {
        guard let record = registry.records[message.to] else {
            out += origin.outcome(of: message, error: "unknown agent \(message.to)")
            return false
        }
        if record.state.isTerminal {
            out += origin.outcome(of: message, error: "agent \(message.to) is \(record.state.rawValue)")
            return false
        }
        // A quarantined agent neither hears nor speaks; a peer's message to it is an attempt to shield it.
        if registry.quarantine(of: message.to) != nil || record.state == .quarantined {
            if message.from != "operator" {
                out.append(.record(NodeEvent(.warn, "shield_attempt", ["agent": .string(message.to), "by": .string(message.from),
                                                                       "attempt": "message"])))
            }
            out += origin.outcome(of: message, error: "agent \(message.to) is quarantined; message refused")
            return false
        }
        if registry.quarantine(of: message.from) != nil {
            out += origin.outcome(of: message, error: "agent \(message.from) is quarantined; its messages are refused")
            return false
        }
        if record.state.wantsProcess && record.host == me.name && record.hostUID == me.uid {
            out.append(.deliver(message, origin: origin))
            return true
        } else if record.state.wantsProcess, registry.hostIsLive(record), let host = membership.member(named: record.host) {
            out.append(.forward(message, to: host.meta.endpoint, host: record.host, origin: origin))
            return true
        }
        return hold(message, origin: origin, now: now, into: &out)
    }

    @discardableResult
    mutating func hold(_ message: AgentMessage, origin: RouteOrigin, now: Instant, into out: inout [NodeDirective]) -> Bool {
        let held = router.hold(from: message.from, to: message.to, payload: message.payload, now: now)
        out += origin.outcome(of: message, error: held ? nil : "buffer for \(message.to) is full while it is being relaunched")
        return held
    }

    /// Re-routes what waited for an agent, and tells its local senders where it runs now.
    mutating func flushHeld(for agent: String, now: Instant, into out: inout [NodeDirective]) {
        let messages = router.release(agent)
        guard !messages.isEmpty, let record = registry.records[agent] else { return }
        var told: Set<String> = []
        for held in messages {
            let routed = route(AgentMessage(from: held.from, to: agent, payload: held.payload), origin: .held,
                               now: now, into: &out)
            if routed && told.insert(held.from).inserted {
                out.append(.push(["event": "peer_relaunched", "peer": .string(agent), "node": .string(record.host),
                                  "generation": .int(Int64(record.generation))], to: held.from))
            }
        }
    }

    // MARK: Config agents

    /// Agents from the config file start once the node has heard the
    /// cluster's registry (so a restarted node does not duplicate an agent
    /// that was relaunched elsewhere meanwhile): `configAgentsDelay` after
    /// boot, and once joined unless the node has no seeds.
    mutating func startConfigAgentsIfReady(now: Instant, into out: inout [NodeDirective]) {
        guard !configAgentsStarted, !settings.configAgents.isEmpty,
              now.since(startedAt) >= settings.configAgentsDelay,
              membership.hasJoined || settings.seeds.isEmpty else { return }
        configAgentsStarted = true
        for spec in settings.configAgents {
            if let record = registry.records[spec.name], record.state != .lost { continue }
            do {
                absorb(try registry.start(spec, on: me.name, now: now), now: now, into: &out)
            } catch {
                out.append(.record(NodeEvent(.warn, "config_agent_not_started",
                                             ["agent": .string(spec.name), "error": .string(error.message)],
                                             recorded: false)))
            }
        }
    }
}
