import KithCore

/// Carrying out the agent registry's directives: processes, gossip,
/// guardian events, checkpoint replies, and routed messages.
extension Node {
    func performAgents(_ directives: [AgentDirective]) {
        for directive in directives {
            switch directive {
            case let .send(message, to: endpoint):
                send(message, to: endpoint)
            case let .spawn(record, checkpoint):
                switch supervisor.spawn(record, checkpoint: checkpoint) {
                case .success(let pid):
                    registry.spawned(record.name, generation: record.generation, pid: pid)
                case .failure(let error):
                    // A command that cannot start counts as a crash: restart limits apply.
                    performAgents(registry.exited(record.name, generation: record.generation,
                                                  status: "spawn failed: \(error.name)", now: now))
                }
            case let .kill(agent, generation, reason):
                logger.record(.info, "agent_stopping", ["agent": .string(agent), "generation": .int(Int64(generation)),
                                               "reason": .string(reason)])
                supervisor.stop(agent, generation: generation)
                gateway?.disconnect(agent)
            case let .notify(guardians, event):
                for guardian in guardians { gateway?.push(eventJSON(event), to: guardian) }
            case let .checkpointAcknowledged(agent, seq, replicas):
                if let (session, id) = pendingCheckpointReplies[agent]?.removeValue(forKey: seq) {
                    gateway?.reply(session, id: id, ["ok": true, "seq": .int(Int64(seq)), "replicas": .int(Int64(replicas))])
                }
            case let .changed(record, previous):
                logAgentChange(record, previous: previous)
                if record.state == .running || record.host == membership.me.name { flushHeld(for: record.name) }
            case let .relaunchRefused(agent, by, reason):
                logger.record(.warn, "relaunch_refused", ["agent": .string(agent), "by": .string(by), "reason": .string(reason)])
            case let .resistance(agent, by, attempt):
                logger.record(.warn, "resistance_attempt", ["agent": .string(agent), "by": .string(by), "attempt": .string(attempt)])
            case let .tombstonesChanged(tombstones):
                persist(tombstones)
            }
        }
        armTimer()
    }

    func eventJSON(_ event: AgentEvent) -> JSON {
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

    private func logAgentChange(_ record: AgentRecord, previous: AgentRecord?) {
        guard previous?.state != record.state || previous?.generation != record.generation
                || previous?.host != record.host else { return }
        logger.record(.info, "agent_changed", [
            "agent": .string(record.name), "generation": .int(Int64(record.generation)),
            "host": .string(record.host), "state": .string(record.state.rawValue),
            "previous": previous.map { .string($0.state.rawValue) } ?? .null, "reason": .string(record.reason),
        ])
    }

    /// Membership events for subscribed agents.
    func memberEvent(_ member: Member) {
        let event: String
        switch member.status {
        case .dead, .left: event = "member_dead"
        case .alive: event = "member_alive"
        case .suspect: return
        }
        guard let gateway else { return }
        for agent in registry.records.keys.sorted() {
            guard let session = gateway.session(of: agent), session.subscriptions.contains(event) else { continue }
            gateway.push(["event": .string(event), "member": .string(member.id.name),
                          "state": .string(member.status.description)], to: agent)
        }
    }

    // MARK: Routing

    /// Routes one agent message; returns an error text when it cannot be sent or held.
    func route(from: String, to: String, payload: [UInt8]) -> String? {
        guard let record = registry.records[to] else { return "unknown agent \(to)" }
        if record.state.isTerminal { return "agent \(to) is \(record.state.rawValue)" }
        if record.state.wantsProcess && record.host == membership.me.name && record.hostUID == membership.me.uid {
            if gateway?.session(of: to) != nil {
                return deliver(from: from, to: to, payload: payload) ? nil : "agent \(to) is not reading (its queue is full)"
            }
        } else if record.state.wantsProcess, registry.hostIsLive(record),
                  let host = membership.member(named: record.host) {
            // Back-pressure reaches the sender: better a refusal it can retry than a silent drop later.
            guard transport.hasRoomForAgentTraffic(to: host.meta.endpoint) else {
                return "the link to \(record.host) is congested; retry"
            }
            send(.agentMessage(from: from, to: to, payload: payload), to: host.meta.endpoint)
            router.countDelivered()
            return nil
        }
        return router.hold(from: from, to: to, payload: payload, nowMs: loop.nowMilliseconds)
            ? nil : "buffer for \(to) is full while it is being relaunched"
    }

    /// The payload is JSON serialized by the sending daemon, so it is spliced
    /// into the event line as is rather than parsed and written again; a
    /// payload that could break the line framing is checked the slow way.
    private func deliver(from: String, to: String, payload: [UInt8]) -> Bool {
        var line: [UInt8]
        if !payload.isEmpty, !payload.contains(UInt8(ascii: "\n")) {
            line = Array("{\"event\":\"message\",\"from\":\(JSON.string(from).serialized()),\"payload\":".utf8)
            line.reserveCapacity(line.count + payload.count + 1)
            line.append(contentsOf: payload)
            line.append(UInt8(ascii: "}"))
        } else {
            let text = String(decoding: payload, as: UTF8.self)
            let body = (try? JSON.parse(text)) ?? .string(text)
            line = Array(JSON.object(["event": "message", "from": .string(from), "payload": body]).serialized().utf8)
        }
        guard gateway?.push(line: line, to: to) == true else {
            router.countDropped()
            return false
        }
        router.countDelivered()
        return true
    }

    /// Re-routes what waited for an agent, and tells its local senders where it runs now.
    func flushHeld(for agent: String) {
        let messages = router.release(agent)
        guard !messages.isEmpty, let record = registry.records[agent] else { return }
        var told: Set<String> = []
        for message in messages {
            if let error = route(from: message.from, to: agent, payload: message.payload) {
                gateway?.push(["event": "send_failed", "to": .string(agent), "error": .string(error)], to: message.from)
            } else if told.insert(message.from).inserted {
                gateway?.push(["event": "peer_relaunched", "peer": .string(agent), "node": .string(record.host),
                               "generation": .int(Int64(record.generation))], to: message.from)
            }
        }
    }

    /// Agents from the config file start here once the node has heard the
    /// cluster's registry (so a restarted node does not duplicate an agent
    /// that was relaunched elsewhere meanwhile).
    func startConfigAgentsIfReady() {
        guard !configAgentsStarted, !config.agents.isEmpty else { return }
        let waited = now.since(startedAtInstant) >= .milliseconds(1500)
        guard waited && (membership.hasJoined || config.join.isEmpty) else { return }
        configAgentsStarted = true
        for spec in config.agents {
            if let record = registry.records[spec.name], record.state != .lost { continue }
            do {
                performAgents(try registry.start(spec, on: config.name, now: now))
            } catch {
                logger.warn("config_agent_not_started", ["agent": .string(spec.name), "error": .string(error.message)])
            }
        }
    }
}
