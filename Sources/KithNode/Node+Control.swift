import KithCore

/// Answers to `kithctl`: the control commands a daemon understands.
extension Node {
    func answer(_ cmd: String, _ request: JSON) -> JSON {
        switch cmd {
        case "members": return ["ok": true, "members": .array(membership.members.map(memberJSON))]
        case "status": return status()
        case "agents":
            return ["ok": true, "agents": .array(registry.records.values.sorted { $0.name < $1.name }.map(agentJSON))]
        case "agent_start": return startAgent(request)
        case "fault":
            guard let peers = request["block"]?.arrayValue?.compactMap(\.stringValue), !peers.isEmpty,
                  let duration = request["for_ms"]?.intValue, duration > 0 else {
                return ["ok": false, "error": "fault needs \"block\": [node names] and \"for_ms\" > 0"]
            }
            faults.block(Set(peers), forMs: UInt64(duration), nowMs: loop.nowMilliseconds)
            logger.record(.warn, "fault_set", ["block": .array(peers.map(JSON.string)), "for_ms": .int(duration)])
            return ["ok": true]
        case "events":
            let limit = min(max(request["limit"]?.intValue ?? 1000, 1), 10_000)
            return ["ok": true, "node": .string(config.name), "public_key": .string(events.publicKeyHex),
                    "last_seq": .int(Int64(events.lastSeq)), "last_hash": .string(events.lastHash),
                    "lines": .array(events.lines(sinceMs: request["since_ms"]?.intValue, limit: Int(limit)).map(JSON.string))]
        case "kill_switch": return killSwitch(request, issuedBy: "operator")
        case "revive": return revive(request, issuedBy: "operator")
        case "heal":
            faults.heal()
            logger.record(.info, "fault_healed")
            return ["ok": true]
        case "agent_stop":
            guard let name = request["name"]?.stringValue else { return ["ok": false, "error": "agent_stop needs \"name\""] }
            do {
                performAgents(try registry.stop(name, now: now))
                return ["ok": true]
            } catch {
                return ["ok": false, "error": .string(error.message)]
            }
        case "send":
            guard let to = request["to"]?.stringValue, let text = request["text"]?.stringValue else {
                return ["ok": false, "error": "send needs \"to\" and \"text\""]
            }
            if let error = route(from: "operator", to: to, payload: Array(JSON.string(text).serialized().utf8)) {
                return ["ok": false, "error": .string(error)]
            }
            return ["ok": true]
        default: return ["ok": false, "error": .string("unknown command '\(cmd)'")]
        }
    }

    /// `{"cmd":"agent_start","spec":{...},"on":"n2"}`: a new generation where asked or where placement puts it.
    private func startAgent(_ request: JSON) -> JSON {
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
            "faults": .object(faults.blockedPeers(nowMs: loop.nowMilliseconds).mapValues { .int(Int64($0)) }),
            "agent_messages_routed": .int(Int64(router.delivered)),
            "agent_messages_dropped": .int(Int64(router.dropped)),
            "agent_lines_rejected": .int(Int64(gateway?.linesRejected ?? 0)),
            "rss_bytes": .int(Int64(ProcessStats.residentBytes)),
            "cpu_ms": .int(Int64(ProcessStats.cpuMilliseconds)),
        ]
    }
}
