#if canImport(Glibc)
import Glibc
#endif
import KithCore
import KithUV

/// Carrying out the core's directives: the only place the node acts.
extension Node {
    /// Performs `directives` in order; returns the operator's answer if one was given.
    /// A fallible directive that fails answers with its error and ends the list.
    func perform(_ directives: [NodeDirective], now: Instant) -> JSON? {
        var answer: JSON?
        // Fences finish before the answer: a kill-switch is acknowledged once no process of it remains, with the count.
        var fencedProcesses: Int?
        for directive in directives {
            switch directive {
            case let .send(.agentAck(ack), to: endpoint) where ack.outcome == .delivered:
                acks.add(ack, to: endpoint)
            case let .send(message, to: endpoint):
                send(message, to: endpoint, now: now)
            case let .spawn(record, checkpoint):
                switch supervisor.spawn(record, checkpoint: checkpoint) {
                case .success(let pid):
                    input(.agentSpawned(record.name, generation: record.generation, pid: pid), now: now)
                case .failure(let error):
                    input(.agentSpawnFailed(record.name, generation: record.generation, error: error.name), now: now)
                }
            case let .stopAgent(agent, generation):
                let waits = supervisor.stop(agent, generation: generation)
                gateway?.disconnect(agent)
                // Nothing left to wait for (it was between restarts, or gone): the stop is confirmed now.
                if !waits { answer = input(.agentStopped(agent, generation: generation), now: now) ?? answer }
            case .fenceAgent(let agent):
                fencedProcesses = (fencedProcesses ?? 0) + supervisor.killGroupNow(agent)
            case .freezeAgent(let agent), .thawAgent(let agent):
                let freeze = directive == .freezeAgent(agent)
                guard let (method, count) = supervisor.setFrozen(agent, freeze) else { continue }
                logger.record(.warn, freeze ? "agent_frozen" : "agent_thawed",
                              ["agent": .string(agent), "method": .string(method), "processes": .int(Int64(count))])
            case .crashAgent(let agent):
                guard supervisor.crash(agent) else { return failure("agent \(agent) is not running here") }
            case let .deliver(message, origin):
                answer = deliver(message, origin: origin, now: now) ?? answer
            case let .forward(message, endpoint, host, origin):
                // Back-pressure reaches the sender: better a refusal it can retry than a silent drop later.
                guard transport.hasRoomForAgentTraffic(to: endpoint) else {
                    answer = perform(origin.outcome(of: message, error: "the link to \(host) is congested; retry"), now: now) ?? answer
                    // A stamped message that did not leave: the core takes it back or sends it again later.
                    if message.stamp != nil { answer = input(.agentUnreachable(message, origin: origin), now: now) ?? answer }
                    continue
                }
                send(.agentMessage(from: message.from, to: message.to, payload: message.payload, stamp: message.stamp),
                     to: endpoint, now: now)
                messagesRouted += 1
                if case .agent = origin, let stamp = message.stamp {
                    deliveryRecords.acknowledged(.init(from: message.from, generation: stamp.generation, to: message.to, via: stamp.replyTo),
                                                 seq: stamp.seq)
                }
                answer = perform(origin.outcome(of: message, error: nil), now: now) ?? answer
            case let .push(json, agent):
                gateway?.push(json, to: agent)
            case let .publish(event, json):
                guard let gateway else { continue }
                for agent in core.registry.records.keys.sorted() {
                    guard let session = gateway.session(of: agent), session.subscriptions.contains(event) else { continue }
                    gateway.push(json, to: agent)
                }
            case let .replyAgent(origin, body):
                guard let session = gateway?.session(of: origin.agent), session.generation == origin.generation else { continue }
                gateway?.reply(session, id: origin.id, body)
            case .answerOperator(var body):
                if let fencedProcesses, body["ok"]?.boolValue == true, case .object(var fields) = body {
                    fields["processes_killed"] = .int(Int64(fencedProcesses))
                    // Said plainly where a fence is only a process group: an escaped child survives it.
                    if supervisor.containmentStatus["mode"] == "none" { fields["containment"] = supervisor.containmentStatus }
                    body = .object(fields)
                }
                answer = body
            case .persistTombstones(let tombstones):
                persist(tombstones)
            case .recordDelivery(let fact):
                deliveryRecords.apply(fact)
            case .record(let event):
                let level = LogLevel(rawValue: event.level.rawValue) ?? .info
                if event.recorded { transport.refusals.record(level, event.name, event.fields) } else { logger.log(level, event.name, event.fields) }
            case .setFault(let rule):
                faults.add(rule.effect, to: rule.peers, for: rule.duration, now: now)
            case .healFaults:
                faults.heal()
            case .pauseSelf(let duration):
                if let error = pauseSelf(for: duration) { return failure(error) }
            case .exitSelf(let graceful):
                afterReply { raise(graceful ? SIGTERM : SIGKILL) }
            case let .changeKeyring(cmd, request):
                return changeKeyring(cmd, request)
            }
        }
        return answer
    }

    /// Hands a message to a local agent; without a session the core holds it instead.
    /// The payload is JSON serialized by the sending daemon, so it is spliced
    /// into the event line as is rather than parsed and written again; a
    /// payload that could break the line framing is checked the slow way.
    private func deliver(_ message: AgentMessage, origin: RouteOrigin, now: Instant) -> JSON? {
        guard let gateway, gateway.session(of: message.to) != nil else {
            return input(.agentUnreachable(message, origin: origin), now: now)
        }
        let payload = message.payload
        let delivered: Bool
        if !payload.isEmpty, !payload.contains(UInt8(ascii: "\n")) {
            delivered = gateway.pushMessage(from: message.from, payload: payload, to: message.to)
        } else {
            let text = String(decoding: payload, as: UTF8.self)
            let body = (try? JSON.parse(text)) ?? .string(text)
            delivered = gateway.push(["event": "message", "from": .string(message.from), "payload": body], to: message.to)
        }
        if delivered { messagesRouted += 1 } else { messagesRefused += 1 }
        if delivered, let stamp = message.stamp, let copy = gateway.session(of: message.to)?.generation {
            deliveryRecords.delivered(.init(from: message.from, generation: stamp.generation, to: message.to, via: stamp.replyTo),
                                      to: copy, seq: stamp.seq)
        }
        // A stamped message not taken is not acknowledged: its sender's daemon sends it again, or fails it by id.
        if !delivered && message.stamp != nil { return input(.agentUnreachable(message, origin: origin), now: now) }
        let error = delivered ? nil : "agent \(message.to) is not reading (its queue is full)"
        return perform(origin.outcome(of: message, error: error), now: now)
    }

    func failure(_ message: String) -> JSON { ["ok": false, "error": .string(message)] }

    /// Runs `action` once the reply has had time to leave (a self-kill must not eat its own answer).
    func afterReply(_ action: @escaping () -> Void) {
        let timer = Timer(loop: loop)
        timer.start(afterMilliseconds: 50) {
            timer.close()
            action()
        }
    }
}
