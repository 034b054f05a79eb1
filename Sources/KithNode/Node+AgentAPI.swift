import KithCore

/// The agent socket: sessions are the shell's (hello, subscriptions); every
/// other request is the core's decision, answered through `replyAgent`.
extension Node {
    func wireGateway() {
        guard let gateway else { return }
        gateway.authenticate = { [unowned self] agent, token in
            guard let running = self.supervisor.session(for: agent), running.token == token else { return nil }
            return running.generation
        }
        gateway.onHello = { [unowned self] session in self.hello(session) }
        gateway.handle = { [unowned self] session, op, request in self.agentRequest(session, op, request) }
        gateway.handleSend = { [unowned self] session, send in
            guard let agent = session.agent else { return }
            self.input(.agentSend(AgentOrigin(agent: agent, generation: session.generation, id: send.id),
                                  to: send.to, payload: send.payload))
        }
    }

    private func hello(_ session: AgentGateway.Session) -> JSON {
        guard let agent = session.agent, let running = supervisor.session(for: agent) else { return ["ok": false] }
        input(.agentConnected(agent, generation: session.generation))
        let checkpoint = running.checkpoint.map { checkpoint -> JSON in
            let text = String(decoding: checkpoint.data, as: UTF8.self)
            return (try? JSON.parse(text)) ?? .string(text)
        } ?? .null
        return ["ok": true, "agent": .string(agent), "node": .string(config.name),
                "generation": .int(Int64(session.generation)), "relaunched": .bool(running.relaunched),
                "checkpoint": checkpoint]
    }

    /// Answers `subscribe` here; hands every other request to the core, which answers through `replyAgent`.
    private func agentRequest(_ session: AgentGateway.Session, _ op: String, _ request: JSON) -> JSON? {
        guard let agent = session.agent else { return ["ok": false, "error": "say hello first"] }
        guard op != "subscribe" else {
            guard let events = request["events"]?.arrayValue?.compactMap(\.stringValue) else {
                return ["ok": false, "error": "subscribe needs \"events\": [names]"]
            }
            session.subscriptions.formUnion(events)
            return ["ok": true, "events": .array(session.subscriptions.sorted().map(JSON.string))]
        }
        input(.agentRequest(AgentOrigin(agent: agent, generation: session.generation, id: request["id"]), op: op, request: request))
        return nil
    }
}
