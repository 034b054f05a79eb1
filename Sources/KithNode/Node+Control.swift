import KithCore

/// Answers to `kithctl`: the control commands a daemon understands.
extension Node {
    /// Read-only commands answer anyone; every other command must be signed
    /// by a trusted operator key, and every refusal is recorded.
    func answer(_ cmd: String, _ request: JSON) -> JSON {
        if let answer = answerReadOnly(cmd, request) { return answer }
        switch authority.admit(request) {
        case .failure(let error):
            logger.record(.warn, "command_refused", ["cmd": .string(cmd), "reason": .string(error.description)])
            return ["ok": false, "error": .string("refused: \(error.description)")]
        case .success(let (key, counter)):
            let issuer = String(key.prefix(16))
            // A command signed for one node must not be replayed to another (per-node counters cannot see that).
            if let target = request["target"]?.stringValue, target != config.name {
                logger.record(.warn, "command_refused", ["cmd": .string(cmd), "reason": .string("signed for node \(target)")])
                return ["ok": false, "error": .string("refused: this command was signed for node \(target), not \(config.name)")]
            }
            logger.record(.info, "operator_command", ["cmd": .string(cmd), "key": .string(issuer),
                                                      "counter": .int(Int64(clamping: counter))])
            return answerOperator(cmd, request, issuer: issuer)
        }
    }

    private func answerReadOnly(_ cmd: String, _ request: JSON) -> JSON? {
        switch cmd {
        case "members": return ["ok": true, "members": .array(membership.members.map(memberJSON))]
        case "status": return status()
        case "agents":
            return ["ok": true, "agents": .array(registry.records.values.sorted { $0.name < $1.name }.map(agentJSON))]
        case "events":
            let limit = min(max(request["limit"]?.intValue ?? 1000, 1), 100_000)
            return ["ok": true, "node": .string(config.name), "public_key": .string(events.publicKeyHex),
                    "last_seq": .int(Int64(events.lastSeq)), "last_hash": .string(events.lastHash),
                    "lines": .array(events.lines(sinceMs: request["since_ms"]?.intValue, limit: Int(limit)).map(JSON.string))]
        default:
            return OperatorAuthority.readOnly.contains(cmd) ? ["ok": false, "error": .string("unknown command '\(cmd)'")] : nil
        }
    }

    /// `{"cmd":"agent_start","spec":{...},"on":"n2"}`: a new generation where asked or where placement puts it.
    func startAgent(_ request: JSON) -> JSON {
        guard let specJSON = request["spec"] else { return ["ok": false, "error": "agent_start needs \"spec\""] }
        do {
            let spec = try AgentSpec(config: specJSON)
            performAgents(try registry.start(spec, on: request["on"]?.stringValue, now: now))
            guard let record = registry.records[spec.name] else { return ["ok": false, "error": "not started"] }
            return ["ok": true, "agent": agentJSON(record)]
        } catch let error as ConfigError {
            return ["ok": false, "error": .string(error.message)]
        } catch {
            return ["ok": false, "error": .string("\(error)")]
        }
    }

    func memberJSON(_ member: Member) -> JSON {
        [
            "name": .string(member.id.name),
            "uid": .string(String(member.id.uid, radix: 16)),
            "address": .string(member.meta.endpoint),
            "control": .string(member.meta.control),
            "state": .string(member.status.description),
            "incarnation": .int(Int64(member.incarnation)),
            "changed_ms_ago": .int(Int64(now.since(member.changedAt).nanoseconds / 1_000_000)),
            "capacity": .int(Int64(member.meta.capacity)),
            "tags": .object(member.meta.tags.mapValues(JSON.string)),
        ]
    }

    func status() -> JSON {
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
            "uptime_ms": .int(Int64(now.since(startedAtInstant).nanoseconds / 1_000_000)),
            "counts": .object(counts),
            "gossip_bytes_sent": .int(Int64(transport.bytesSent)),
            "gossip_bytes_received": .int(Int64(transport.bytesReceived)),
            "frames_rejected": .int(Int64(transport.framesRejected)),
            "frames_dropped": .int(Int64(transport.framesDropped)),
            "agents_running_here": .int(Int64(supervisor.runningCount)),
            "frames_filtered": .int(Int64(faults.framesFiltered)),
            "public_key": .string(events.publicKeyHex),
            "event_seq": .int(Int64(events.lastSeq)),
            "faults": .array(faults.describe(nowMs: loop.nowMilliseconds)),
            "frames_delayed": .int(Int64(faults.framesDelayed)),
            "halted": .bool(registry.halted),
            "cluster_key": keyring.primary.map { .int(Int64($0)) } ?? .null,
            "frames_unauthenticated": .int(Int64(transport.framesUnauthenticated)),
            "agent_messages_routed": .int(Int64(router.delivered)),
            "agent_messages_dropped": .int(Int64(router.dropped)),
            "agent_lines_rejected": .int(Int64(gateway?.linesRejected ?? 0)),
            "rss_bytes": .int(Int64(ProcessStats.residentBytes)),
            "cpu_ms": .int(Int64(ProcessStats.cpuMilliseconds)),
        ]
    }
}
