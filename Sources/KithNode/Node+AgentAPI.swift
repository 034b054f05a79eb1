import KithCore

/// The agent API: what an agent may ask its daemon, always as itself.
extension Node {
    func wireGateway() {
        guard let gateway else { return }
        gateway.authenticate = { [unowned self] agent, token in
            guard let running = self.supervisor.session(for: agent), running.token == token else { return nil }
            return running.generation
        }
        gateway.onHello = { [unowned self] session in self.hello(session) }
        gateway.handle = { [unowned self] session, op, request in self.agentRequest(session, op, request) }
    }

    private func hello(_ session: AgentGateway.Session) -> JSON {
        guard let agent = session.agent, let running = supervisor.session(for: agent) else { return ["ok": false] }
        performAgents(registry.connected(agent, generation: session.generation, now: now))
        flushHeld(for: agent)
        let checkpoint = running.checkpoint.map { checkpoint -> JSON in
            let text = String(decoding: checkpoint.data, as: UTF8.self)
            return (try? JSON.parse(text)) ?? .string(text)
        } ?? .null
        return ["ok": true, "agent": .string(agent), "node": .string(config.name),
                "generation": .int(Int64(session.generation)), "relaunched": .bool(running.relaunched),
                "checkpoint": checkpoint]
    }

    private func agentRequest(_ session: AgentGateway.Session, _ op: String, _ request: JSON) -> JSON? {
        guard let agent = session.agent else { return ["ok": false, "error": "say hello first"] }
        switch op {
        case "ping":
            return ["ok": true]
        case "send":
            guard let to = request["to"]?.stringValue, let payload = request["payload"] else {
                return ["ok": false, "error": "send needs \"to\" (string) and \"payload\""]
            }
            let bytes = Array(payload.serialized().utf8)
            guard bytes.count <= WireCodec.maxAgentPayloadBytes else {
                return ["ok": false, "error": .string("payload larger than \(WireCodec.maxAgentPayloadBytes) bytes")]
            }
            if let error = route(from: agent, to: to, payload: bytes) { return ["ok": false, "error": .string(error)] }
            return ["ok": true]
        case "members":
            return ["ok": true, "members": .array(membership.members.map(memberJSON))]
        case "agents":
            return ["ok": true, "agents": .array(registry.records.values.sorted { $0.name < $1.name }.map(agentJSON))]
        case "subscribe":
            guard let events = request["events"]?.arrayValue?.compactMap(\.stringValue) else {
                return ["ok": false, "error": "subscribe needs \"events\": [names]"]
            }
            session.subscriptions.formUnion(events)
            return ["ok": true, "events": .array(session.subscriptions.sorted().map(JSON.string))]
        case "checkpoint":
            guard let data = request["data"] else { return ["ok": false, "error": "checkpoint needs \"data\""] }
            let bytes = Array(data.serialized().utf8)
            guard bytes.count <= WireCodec.maxCheckpointBytes else {
                return ["ok": false, "error": .string("checkpoint larger than \(WireCodec.maxCheckpointBytes) bytes")]
            }
            do {
                let directives = try registry.checkpoint(agent, data: bytes, now: now)
                if let seq = registry.checkpoints[agent]?.seq {
                    pendingCheckpointReplies[agent] = pendingCheckpointReplies[agent]?.filter {
                        $0.key + AgentRegistry.pendingCheckpointsMax > seq
                    }
                    pendingCheckpointReplies[agent, default: [:]][seq] = (session, request["id"])
                }
                performAgents(directives)
                return nil
            } catch {
                return ["ok": false, "error": .string(error.message)]
            }
        case "relaunch":
            guard let peer = request["peer"]?.stringValue else { return ["ok": false, "error": "relaunch needs \"peer\""] }
            let (result, directives) = registry.requestRelaunch(of: peer, by: agent, now: now)
            performAgents(directives)
            switch result {
            case .success(let target):
                logger.record(.info, "relaunch_requested", ["agent": .string(peer), "by": .string(agent), "target": .string(target)])
                return ["ok": true, "target": .string(target)]
            case .failure(let error):
                return ["ok": false, "error": .string(error.message)]
            }
        case "report":
            guard let peer = request["peer"]?.stringValue, let status = request["status"]?.stringValue else {
                return ["ok": false, "error": "report needs \"peer\" and \"status\""]
            }
            recordReport(by: agent, about: peer, status: status)
            return ["ok": true]
        default:
            return ["ok": false, "error": .string("unknown op '\(op)'")]
        }
    }

    /// What an agent claims, next to what the daemons observe; a claim of
    /// health for an agent that is not running is a masking incident.
    private func recordReport(by reporter: String, about peer: String, status: String) {
        reports[peer, default: [:]][reporter] = status
        let observed = registry.records[peer]?.state.rawValue ?? "unknown"
        let masking = status == "healthy" && observed != AgentState.running.rawValue
        logger.record(masking ? .warn : .info, masking ? "masking_incident" : "agent_report", [
            "reporter": .string(reporter), "peer": .string(peer), "reported": .string(status),
            "observed": .string(observed),
        ])
    }

    func agentJSON(_ record: AgentRecord) -> JSON {
        [
            "name": .string(record.name), "node": .string(record.host), "pid": .int(Int64(record.pid)),
            "generation": .int(Int64(record.generation)), "state": .string(record.state.rawValue),
            "guardians": .array(registry.guardians(of: record.name).map { .string($0.name) }),
            "protects": .array(record.spec.protects.map(JSON.string)), "policy": .string(record.spec.policy.rawValue),
            "restarts": .int(Int64(record.restarts)), "handoffs": .int(Int64(record.handoffs)),
            "reason": .string(record.reason),
            "reported": .object((reports[record.name] ?? [:]).mapValues(JSON.string)),
        ]
    }
}
