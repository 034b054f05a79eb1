import KithCore

/// Answers to `kithctl`: the control commands a daemon understands.
extension Node {
    func answer(_ cmd: String, _ request: JSON) -> JSON {
        switch cmd {
        case "members": return ["ok": true, "members": .array(membership.members.map(memberJSON))]
        case "status": return status()
        default: return ["ok": false, "error": .string("unknown command '\(cmd)'")]
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
            "rss_bytes": .int(Int64(ProcessStats.residentBytes)),
            "cpu_ms": .int(Int64(ProcessStats.cpuMilliseconds)),
        ]
    }
}
