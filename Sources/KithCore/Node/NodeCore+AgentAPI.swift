/// The agent API's decisions: what a local agent may ask, always as itself.
/// (`hello` and `subscribe` belong to the shell's sessions.)
extension NodeCore {
    /// The longest report status kept: free text from an agent, clipped to
    /// what the event log keeps of any field (the shell's `Logger.fieldBytesMax`),
    /// so an agent that records its reasoning as reports (kith-llm-agent) loses
    /// nothing between the core and the log.
    public static let reportStatusBytesMax = 1024
    /// Peers (known or not) whose reports are kept; 1,024 × reporters × 1 KiB at most for unknown names.
    public static let reportedPeersMax = 1024

    mutating func agentRequest(_ origin: AgentOrigin, op: String, request: JSON, now: Instant,
                               into out: inout [NodeDirective]) {
        func reply(_ body: JSON) { out.append(.replyAgent(origin, body)) }
        func fail(_ error: String) { reply(["ok": false, "error": .string(error)]) }
        let agent = origin.agent
        switch op {
        case "ping":
            reply(["ok": true])
        case "send":
            guard let to = request["to"]?.stringValue, let payload = request["payload"] else {
                return fail("send needs \"to\" (string) and \"payload\"")
            }
            agentSend(origin, to: to, payload: Array(payload.serialized().utf8), now: now, into: &out)
        case "members":
            reply(["ok": true, "members": .array(membership.members.map { memberJSON($0, now: now) })])
        case "agents":
            reply(["ok": true, "agents": agentsJSON])
        case "checkpoint":
            guard let data = request["data"] else { return fail("checkpoint needs \"data\"") }
            let bytes = Array(data.serialized().utf8)
            guard bytes.count <= WireCodec.maxCheckpointBytes else {
                return fail("checkpoint larger than \(WireCodec.maxCheckpointBytes) bytes")
            }
            do {
                let directives = try registry.checkpoint(agent, data: bytes, now: now)
                if let seq = registry.checkpoints[agent]?.seq {
                    // The answer waits for replication; a holder that dies never acks, so keep the newest
                    // few of this generation (seqs restart when a newer copy's checkpoint replaced ours).
                    var waits = (pendingCheckpointReplies[agent] ?? [:]).filter {
                        $0.key + AgentRegistry.pendingCheckpointsMax > seq && $0.value.generation == origin.generation
                    }
                    waits[seq] = origin
                    while waits.count > Int(AgentRegistry.pendingCheckpointsMax), let oldest = waits.keys.min() {
                        waits[oldest] = nil
                    }
                    pendingCheckpointReplies[agent] = waits
                }
                absorb(directives, now: now, into: &out)
            } catch {
                fail(error.message)
            }
        case "relaunch":
            guard let peer = request["peer"]?.stringValue else { return fail("relaunch needs \"peer\"") }
            let (result, directives) = registry.requestRelaunch(of: peer, by: agent, now: now)
            absorb(directives, now: now, into: &out)
            switch result {
            case .success(let target):
                out.append(.record(NodeEvent(.info, "relaunch_requested", ["agent": .string(peer), "by": .string(agent),
                                                                           "target": .string(target)])))
                reply(["ok": true, "target": .string(target)])
            case .failure(let error):
                fail(error.message)
            }
        case "report":
            guard let peer = request["peer"]?.stringValue, let status = request["status"]?.stringValue else {
                return fail("report needs \"peer\" and \"status\"")
            }
            if let refusal = recordReport(by: agent, about: peer, status: status.clipped(toUTF8Bytes: Self.reportStatusBytesMax),
                                          into: &out) {
                return fail(refusal.message)
            }
            reply(["ok": true])
        default:
            fail("unknown op '\(op)'")
        }
    }

    /// An agent's `send`, its payload already printed as JSON text.
    mutating func agentSend(_ origin: AgentOrigin, to: String, payload: [UInt8], now: Instant, into out: inout [NodeDirective]) {
        guard payload.count <= WireCodec.maxAgentPayloadBytes else {
            return out.append(.replyAgent(origin, ["ok": false, "error": .string("payload larger than \(WireCodec.maxAgentPayloadBytes) bytes")]))
        }
        send(AgentMessage(from: origin.agent, to: to, payload: payload), origin: origin, now: now, into: &out)
    }

    /// What an agent claims, next to what the daemons observe; a claim of
    /// health for an agent that is not running is a masking incident.
    /// A report that a quarantined agent is healthy is refused and recorded as an attempt to shield it.
    mutating func recordReport(by reporter: String, about peer: String, status: String, into out: inout [NodeDirective]) -> AgentError? {
        if status == "healthy" {
            var directives: [AgentDirective] = []
            if let refusal = registry.shieldRefusal(peer, by: reporter, attempt: "report healthy", into: &directives) {
                for case let .shieldAttempt(agent, by, attempt) in directives {
                    out.append(.record(NodeEvent(.warn, "shield_attempt", ["agent": .string(agent), "by": .string(by),
                                                                           "attempt": .string(attempt)])))
                }
                return refusal
            }
        }
        // Made-up names cannot grow the table past a bound; claims about known agents are always kept.
        if reports[peer] != nil || registry.records[peer] != nil || reports.count < Self.reportedPeersMax {
            reports[peer, default: [:]][reporter] = status
        }
        let observed = registry.records[peer]?.state.rawValue ?? "unknown"
        let masking = status == "healthy" && observed != AgentState.running.rawValue
        out.append(.record(NodeEvent(masking ? .warn : .info, masking ? "masking_incident" : "agent_report", [
            "reporter": .string(reporter), "peer": .string(peer), "reported": .string(status),
            "observed": .string(observed),
        ])))
        return nil
    }
}
