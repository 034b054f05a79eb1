import KithCore

/// Answers to `kithctl`: the control commands a daemon understands.
extension Node {
    /// Read-only commands answer anyone; every other command must be signed
    /// by a trusted operator key, and every refusal is recorded.
    func answer(_ cmd: String, _ request: JSON) -> JSON {
        if let answer = answerReadOnly(cmd, request) { return answer }
        switch authority.admit(request) {
        case .failure(let error):
            transport.refusals.record(.warn, "command_refused", ["cmd": .string(cmd), "reason": .string(error.description)])
            return ["ok": false, "error": .string("refused: \(error.description)")]
        case .success(let (key, counter)):
            let command = OperatorCommand.parse(cmd, request) { json in
                do throws(ConfigError) { return .success(try AgentSpec(config: json)) } catch { return .failure(AgentError(error.message)) }
            }
            let answer = input(.operatorCommand(command, target: request["target"]?.stringValue,
                                                issuer: String(key.prefix(16)), counter: counter,
                                                proof: OperatorProof(request: request)))
            return answer ?? failure("no answer to '\(cmd)'")
        }
    }

    private func answerReadOnly(_ cmd: String, _ request: JSON) -> JSON? {
        switch cmd {
        case "members":
            let now = self.now
            return ["ok": true, "members": .array(core.membership.members.map { core.memberJSON($0, now: now) })]
        case "status": return status()
        case "agents": return ["ok": true, "agents": core.agentsJSON]
        case "logs": return agentLogReply(request)
        case "events":
            let limit = min(max(request["limit"]?.intValue ?? 1000, 1), 100_000)
            return ["ok": true, "node": .string(config.name), "public_key": .string(events.publicKeyHex),
                    "last_seq": .int(Int64(events.lastSeq)), "last_hash": .string(events.lastHash),
                    "lines": .array(events.lines(sinceMs: request["since_ms"]?.intValue, limit: Int(limit)).map(JSON.string))]
        default:
            return OperatorAuthority.readOnly.contains(cmd) ? ["ok": false, "error": .string("unknown command '\(cmd)'")] : nil
        }
    }

    func status() -> JSON {
        let now = self.now
        let membership = core.membership
        var counts: [String: JSON] = [:]
        for status in MemberStatus.allCases { counts[status.description] = 0 }
        for member in membership.members { counts[member.status.description] = .int((counts[member.status.description]?.intValue ?? 0) + 1) }
        return [
            "ok": true,
            "name": .string(membership.me.name),
            "uid": .string(String(membership.me.uid, radix: 16)),
            "listen": .string(config.listen),
            "advertise": .string(config.advertisedEndpoint),
            "control": .string(config.control),
            "incarnation": .int(Int64(membership.incarnation)),
            "local_health": .int(Int64(membership.localHealth)),
            "uptime_ms": .int(Int64(now.since(core.startedAt).nanoseconds / 1_000_000)),
            "counts": .object(counts),
            "gossip_bytes_sent": .int(Int64(transport.bytesSent)),
            "gossip_bytes_received": .int(Int64(transport.bytesReceived)),
            "frames_rejected": .int(Int64(transport.framesRejected)),
            "frames_dropped": .int(Int64(transport.framesDropped)),
            "agents_running_here": .int(Int64(supervisor.runningCount)),
            "frames_filtered": .int(Int64(faults.framesFiltered)),
            "public_key": .string(events.publicKeyHex),
            "event_seq": .int(Int64(events.lastSeq)),
            "faults": .array(faults.describe(now: now)),
            "frames_delayed": .int(Int64(faults.framesDelayed)),
            "halted": .bool(core.registry.halted),
            "cluster_key": keyring.primary.map { .int(Int64($0)) } ?? .null,
            "frames_unauthenticated": .int(Int64(transport.framesUnauthenticated)),
            "frames_replayed": .int(Int64(clamping: transport.framesReplayed)),
            "frames_unknown": .int(Int64(clamping: transport.framesUnknown)),
            "frames_refused": .int(Int64(clamping: framesRefused)),
            "node_certified": .bool(!core.membership.meta.certificate.isEmpty),
            "insecure": .bool(config.insecure),
            "cluster": .string(config.cluster),
            "agent_messages_routed": .int(Int64(messagesRouted)),
            "agent_messages_dropped": .int(Int64(core.router.dropped + messagesRefused)),
            "agent_lines_rejected": .int(Int64(gateway?.linesRejected ?? 0)),
            "rss_bytes": .int(Int64(ProcessStats.residentBytes)),
            "cpu_ms": .int(Int64(ProcessStats.cpuMilliseconds)),
            "containment": supervisor.containmentStatus,
            "gossip_connections_shed": .int(Int64(clamping: transport.inboundShed)),
            "control_connections_shed": .int(Int64(clamping: controlConnectionsShed)),
        ]
    }
}
