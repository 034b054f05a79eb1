/// The node's tables as the control protocol and the agent API show them.
extension NodeCore {
    public func memberJSON(_ member: Member, now: Instant) -> JSON {
        [
            "name": .string(member.id.name),
            "uid": .string(String(member.id.uid, radix: 16)),
            "address": .string(member.meta.endpoint),
            "control": .string(member.meta.control),
            // Where to scrape it (`--http`); "" when it serves none.
            "http": .string(member.meta.http),
            "state": .string(member.status.description),
            "incarnation": .int(Int64(member.incarnation)),
            "changed_ms_ago": .int(Int64(now.since(member.changedAt).nanoseconds / 1_000_000)),
            "capacity": .int(Int64(member.meta.capacity)),
            "tags": .object(member.meta.tags.mapValues(JSON.string)),
        ]
    }

    /// Every agent, by name: the registry's record beside what agents report about it.
    public var agentsJSON: JSON {
        .array(registry.records.values.sorted { $0.name < $1.name }.map(agentJSON))
    }

    public func agentJSON(_ record: AgentRecord) -> JSON {
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
