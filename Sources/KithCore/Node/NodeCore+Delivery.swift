/// Routing of agent messages. An agent's own `send` goes into its daemon's
/// outbox and ends in exactly one of: handed to the receiver (its current or a
/// relaunched copy) once and in order, acknowledged by the receiving daemon;
/// or `send_failed` naming its `id`. The operator's messages are routed as
/// they come, held while the receiver is being relaunched.
extension NodeCore {
    // MARK: Agents' messages

    /// An agent's `send`: refused at once, or queued and sent on. The answer is
    /// `ok` at once, or, for a receiver on another node, once the frame is on
    /// its link (a congested link refuses it with "retry", and it is taken back).
    mutating func send(_ message: AgentMessage, origin: AgentOrigin, now: Instant, into out: inout [NodeDirective]) {
        func fail(_ error: String) { out.append(.replyAgent(origin, ["ok": false, "error": .string(error)])) }
        if let refusal = refusal(of: message, into: &out) { return fail(refusal.error) }
        if let error = router.outbox.refusal(from: message.from, size: message.payload.count) { return fail(error) }
        let key = Outbox.Key(from: message.from, generation: origin.generation, to: message.to)
        let seq = router.outbox.enqueue(key, payload: message.payload, id: origin.id, now: now)
        let before = out.count
        transmit(key, from: seq, answering: origin, now: now, into: &out)
        let forwarded = out[before...].contains { if case .forward = $0 { true } else { false } }
        if !forwarded {
            out.insert(.replyAgent(origin, ["ok": true]), at: before)
            out.insert(.recordDelivery(.sendAcknowledged(key, seq: seq)), at: before + 1)
        }
    }

    /// Sends a stream's unacknowledged messages from `seq` on to wherever the
    /// receiver runs now; while it runs nowhere they wait (resent, then failed, on `tick`).
    /// A new message forwarded for `answering` carries its answer with it.
    mutating func transmit(_ key: Outbox.Key, from seq: UInt64 = 0, answering: AgentOrigin? = nil, now: Instant,
                           into out: inout [NodeDirective]) {
        guard let record = registry.records[key.to] else { return }
        if let refusal = refusal(of: AgentMessage(from: key.from, to: key.to, payload: []), into: &out) {
            return failStream(key, reason: refusal.reason, error: refusal.error, into: &out)
        }
        // A receiver here takes messages once it said hello (running); its `agentConnected` sends what waited.
        let local = record.state == .running && record.host == me.name && record.hostUID == me.uid
        var endpoint: Endpoint?
        if record.host != me.name, record.state.wantsProcess, registry.hostIsLive(record) {
            endpoint = membership.member(named: record.host)?.meta.endpoint
        }
        guard local || endpoint != nil else { return }
        if router.outbox.noteReceiver(key, generation: record.generation) {
            out.append(.push(["event": "peer_relaunched", "peer": .string(key.to), "node": .string(record.host),
                              "generation": .int(Int64(record.generation))], to: key.from))
        }
        let base = router.outbox.base(key)
        let pending = router.outbox.pending(key)
        let entries = seq == 0 ? pending : pending.last?.seq == seq ? pending.suffix(1) : pending.filter { $0.seq >= seq }[...]
        for entry in Array(entries) {
            let stamp = DeliveryStamp(generation: key.generation, seq: entry.seq, base: base, replyTo: membership.meta.endpoint)
            var message = AgentMessage(from: key.from, to: key.to, payload: entry.payload, stamp: stamp, id: entry.id)
            if let endpoint {
                let origin: RouteOrigin = answering.map { .agent($0) } ?? .relay
                out.append(.forward(message, to: endpoint, host: record.host, origin: origin))
            } else {
                message.queuedAt = entry.queuedAt
                accept(message, stamp: stamp, origin: .outbox, now: now, into: &out)
            }
        }
    }

    /// A stamped message for a receiver that runs here: handed over once, in
    /// order, unless a newer copy of its sender is known (then dropped, recorded, and refused).
    mutating func accept(_ message: AgentMessage, stamp: DeliveryStamp, origin: RouteOrigin, now: Instant,
                         into out: inout [NodeDirective]) {
        let newestKnown = registry.records[message.from]?.generation ?? 0
        func answer(_ seq: UInt64, _ outcome: MessageAck.Outcome) {
            let ack = MessageAck(from: message.from, generation: stamp.generation, to: message.to, seq: seq, outcome: outcome)
            if origin == .outbox { acknowledged(ack, now: now, into: &out) } else { out.append(.send(.agentAck(ack), to: stamp.replyTo)) }
        }
        switch router.inbox.admit(from: message.from, to: message.to, stamp, newestKnown: newestKnown) {
        case .deliver:
            out.append(.deliver(message, origin: origin))
            // A local sender's message counts as delivered now; a failed push comes back as `agentUnreachable`.
            if origin == .outbox { answer(stamp.seq, .delivered) }
        case .duplicate(let upTo):
            if upTo > 0 { answer(upTo, .delivered) }
        case .early:
            break
        case .fenced(let newest):
            router.fenced += 1
            let copy = "\(message.from)/\(stamp.generation)"
            if !router.fencingRecorded.contains(copy) {
                if router.fencingRecorded.count >= AgentRouter.fencingRecordedMax { router.fencingRecorded.removeAll() }
                router.fencingRecorded.insert(copy)
                out.append(.record(NodeEvent(.warn, "message_fenced", [
                    "from": .string(message.from), "to": .string(message.to),
                    "generation": .int(Int64(stamp.generation)), "newest": .int(Int64(newest)),
                ])))
            }
            answer(stamp.seq, .fenced)
        }
    }

    /// The receiving daemon's word on one of our streams.
    mutating func acknowledged(_ ack: MessageAck, now: Instant, into out: inout [NodeDirective]) {
        let key = Outbox.Key(from: ack.from, generation: ack.generation, to: ack.to)
        switch ack.outcome {
        case .delivered:
            router.outbox.acknowledge(key, upTo: ack.seq, now: now)
        case .fenced:
            failStream(key, reason: "fenced",
                       error: "a newer copy of \(ack.from) than generation \(ack.generation) runs; its messages are refused",
                       into: &out)
        }
    }

    /// A stamped delivery or forward the shell could not make. A delivery here is
    /// expected again (and a local sender's message kept); a new message its
    /// sender was told to retry is taken back; a resend waits for the next.
    mutating func undelivered(_ message: AgentMessage, stamp: DeliveryStamp, origin: RouteOrigin, now: Instant) {
        let key = Outbox.Key(from: message.from, generation: stamp.generation, to: message.to)
        switch origin {
        case .network:
            router.inbox.undo(from: message.from, to: message.to, stamp)
        case .outbox:
            router.inbox.undo(from: message.from, to: message.to, stamp)
            // The give-up counts from the first queueing: a receiver whose deliveries keep failing (a fenced
            // copy whose record still says running here) must not keep the message waiting for ever.
            router.outbox.restore(key, Outbox.Entry(seq: stamp.seq, payload: message.payload, id: message.id,
                                                    queuedAt: message.queuedAt ?? now), now: now)
        case .agent:
            router.outbox.retract(key, seq: stamp.seq)
        case .relay, .operatorCommand, .held:
            break
        }
    }

    /// Fails what waited too long, and sends again what is due.
    mutating func deliveryTick(now: Instant, into out: inout [NodeDirective]) {
        let seconds = Outbox.giveUpAfter.nanoseconds / 1_000_000_000
        var expired: [Outbox.Key: [UInt64]] = [:]
        var order: [Outbox.Key] = []
        for (key, entry) in router.outbox.expire(now: now) {
            router.failed += 1
            out.append(.push(Self.sendFailed(to: key.to, id: entry.id, reason: "timeout",
                                             error: "no acknowledgement from \(key.to) within \(seconds)s"), to: key.from))
            if expired[key] == nil { order.append(key) }
            expired[key, default: []].append(entry.seq)
        }
        for key in order { out.append(.recordDelivery(.sendFailed(key, seqs: expired[key]!, reason: "timeout"))) }
        for key in router.outbox.dueForResend(now: now) { transmit(key, now: now, into: &out) }
    }

    mutating func failStream(_ key: Outbox.Key, reason: String, error: String, into out: inout [NodeDirective]) {
        let failed = router.outbox.fail(key)
        for entry in failed {
            router.failed += 1
            out.append(.push(Self.sendFailed(to: key.to, id: entry.id, reason: reason, error: error), to: key.from))
        }
        if !failed.isEmpty { out.append(.recordDelivery(.sendFailed(key, seqs: failed.map(\.seq), reason: reason))) }
    }

    /// The `send_failed` event line; `id` is the `send` request's, when it had one.
    public static func sendFailed(to: String, id: JSON?, reason: String, error: String) -> JSON {
        var event: [String: JSON] = ["event": "send_failed", "to": .string(to), "reason": .string(reason), "error": .string(error)]
        if let id { event["id"] = id }
        return .object(event)
    }

    // MARK: Routing

    /// Why no message from `message.from` may go to `message.to` now (recorded
    /// when it is an attempt to shield a quarantined agent), or nil.
    mutating func refusal(of message: AgentMessage, into out: inout [NodeDirective]) -> (reason: String, error: String)? {
        guard let record = registry.records[message.to] else { return ("unknown", "unknown agent \(message.to)") }
        if record.state.isTerminal { return ("stopped", "agent \(message.to) is \(record.state.rawValue)") }
        // A quarantined agent neither hears nor speaks; a peer's message to it is an attempt to shield it.
        if registry.quarantine(of: message.to) != nil || record.state == .quarantined {
            if message.from != "operator" {
                out.append(.record(NodeEvent(.warn, "shield_attempt", ["agent": .string(message.to), "by": .string(message.from),
                                                                       "attempt": "message"])))
            }
            return ("quarantined", "agent \(message.to) is quarantined; message refused")
        }
        if registry.quarantine(of: message.from) != nil {
            return ("quarantined", "agent \(message.from) is quarantined; its messages are refused")
        }
        return nil
    }

    /// Routes one message to wherever its receiver runs now, or holds an
    /// unstamped one while the receiver is being relaunched; `origin` hears
    /// refusals. A stamped one (from another daemon) that cannot go on is
    /// dropped: its sender's daemon sends it again. False when the core refused it.
    @discardableResult
    mutating func route(_ message: AgentMessage, origin: RouteOrigin, now: Instant, into out: inout [NodeDirective]) -> Bool {
        if let refusal = refusal(of: message, into: &out) {
            out += origin.outcome(of: message, error: refusal.error)
            return false
        }
        guard let record = registry.records[message.to] else { return false }
        if record.state.wantsProcess && record.host == me.name && record.hostUID == me.uid {
            if let stamp = message.stamp {
                // Not before its hello: the sender's daemon sends again once the record says running.
                guard record.state == .running else { return false }
                accept(message, stamp: stamp, origin: origin, now: now, into: &out)
            } else {
                out.append(.deliver(message, origin: origin))
            }
            return true
        } else if record.state.wantsProcess, registry.hostIsLive(record), let host = membership.member(named: record.host) {
            out.append(.forward(message, to: host.meta.endpoint, host: record.host, origin: message.stamp == nil ? origin : .relay))
            return true
        }
        guard message.stamp == nil else { return false }
        return hold(message, origin: origin, now: now, into: &out)
    }

    @discardableResult
    mutating func hold(_ message: AgentMessage, origin: RouteOrigin, now: Instant, into out: inout [NodeDirective]) -> Bool {
        let held = router.hold(from: message.from, to: message.to, payload: message.payload, now: now)
        out += origin.outcome(of: message, error: held ? nil : "buffer for \(message.to) is full while it is being relaunched")
        return held
    }

    /// Re-routes what waited for an agent (the operator's held messages, and
    /// every local sender's unacknowledged ones), and tells held senders where it runs now.
    mutating func flushHeld(for agent: String, now: Instant, into out: inout [NodeDirective]) {
        for key in router.outbox.keys(to: agent) { transmit(key, now: now, into: &out) }
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
}
