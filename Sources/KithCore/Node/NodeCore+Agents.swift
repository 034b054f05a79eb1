/// The agent registry's directives as the node carries them over, and the
/// config agents' start rule (routing is `NodeCore+Delivery.swift`).
extension NodeCore {
    /// Hands the registry the membership view, with the majority quorum's grace
    /// for this cluster size: the longest a silent member may stay merely
    /// suspect, and never under 20 probe periods.
    ///
    /// With `relaunch_quorum majority`, a node that stops seeing a majority
    /// fences its guarded agents at once: the majority will relaunch them
    /// after the grace, and one copy at a time must hold across the cut too.
    ///
    /// `changed` names the rows that changed since the last call (the whole
    /// view when nil): a large cluster's view changes a few rows at a time.
    mutating func updateRegistryView(changed: [String]? = nil, now: Instant, into out: inout [NodeDirective]) {
        let settings = membership.settings
        registry.quorumGrace = max(membership.suspicionBounds.maximum, settings.probeInterval * 20)
        let hadMajority = registry.seesLiveMajority
        if let changed {
            let rows = changed.map { (name: $0, member: membership.member(named: $0)) }
            absorb(registry.updateView(changed: rows, now: now), now: now, into: &out)
        } else {
            absorb(registry.updateView(membership.members, now: now), now: now, into: &out)
        }
        if registry.quorum == .majority, hadMajority, !registry.seesLiveMajority {
            let members = registry.liveMembers
            fenceLocalAgents(because: "relaunch_quorum majority: this node sees \(members.live) of \(members.known) members, no majority",
                             now: now, into: &out)
        }
    }

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
                    out.append(.recordDelivery(.checkpointAcknowledged(agent: agent, generation: origin.generation, seq: seq)))
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
