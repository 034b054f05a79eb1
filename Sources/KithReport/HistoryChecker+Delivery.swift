/// Nothing acknowledged is lost silently: rules over the records of
/// acknowledged checkpoints and messages. Which records those are is data
/// (`Vocabulary`), so the rules check whatever the daemons record.
extension HistoryChecker {
    /// The event names and keys the delivery rules read.
    package enum Vocabulary {
        /// The host answered `ok` to a checkpoint: `agent`, `generation` and `checkpoint_seq` (a record's own `seq` is its place in the log).
        package static let checkpointAcknowledged = ["checkpoint_acknowledged", "checkpoint_stored"]
        /// `agent_spawned` carries the checkpoint it was started with in these keys (absent: none).
        package static let spawnCheckpointGeneration = "checkpoint_generation"
        package static let spawnCheckpointSeq = "checkpoint_seq"
        package static let acknowledgedSeq = "checkpoint_seq"
        /// The sending daemon answered `ok` to a `send` with an `id`.
        package static let messageAcknowledged = ["message_acknowledged", "send_acknowledged"]
        /// The receiving daemon handed the message to the agent.
        package static let messageDelivered = ["message_delivered"]
        /// The sender was told the message will not arrive.
        package static let sendFailed = ["send_failed"]
        /// Where the sending agent's name is, in order of preference.
        package static let senderKeys = ["from", "agent", "by"]

        static func sender(_ event: EventRecord) -> String? { senderKeys.lazy.compactMap { event[$0] }.first }
    }

    private func records(_ names: [String]) -> [EventRecord] {
        names.flatMap(analyzer.events).sorted(by: EventRecord.before)
    }

    /// Every process of an agent started after its host acknowledged a checkpoint starts from that
    /// checkpoint or a newer one.
    func checkpoints() -> HistoryVerdict.RuleOutcome {
        let acks = records(Vocabulary.checkpointAcknowledged)
        var outcome = HistoryVerdict.RuleOutcome(rule: "checkpoints", title: "no acknowledged checkpoint lost",
                                                 checked: acks.count, unit: "acknowledged checkpoints")
        let spawns = analyzer.events("agent_spawned")
        if acks.isEmpty {
            outcome.notChecked = "no \(Vocabulary.checkpointAcknowledged[0]) records"
            return outcome
        }
        guard spawns.contains(where: { $0.int(Vocabulary.spawnCheckpointSeq) != nil }) else {
            outcome.notChecked = "agent_spawned records do not say which checkpoint they started from"
            return outcome
        }
        // Per agent, only the newest acknowledgement before each spawn matters.
        for spawn in spawns {
            guard let agent = spawn["agent"] else { continue }
            let newest = acks.filter { $0["agent"] == agent && $0.ts < spawn.ts }.max { a, b in
                (a.int("generation") ?? 0, a.int(Vocabulary.acknowledgedSeq) ?? 0) < (b.int("generation") ?? 0, b.int(Vocabulary.acknowledgedSeq) ?? 0)
            }
            guard let ack = newest else { continue }
            let acked = (ack.int("generation") ?? 0, ack.int(Vocabulary.acknowledgedSeq) ?? 0)
            let started = spawn.int(Vocabulary.spawnCheckpointSeq).map { (spawn.int(Vocabulary.spawnCheckpointGeneration) ?? 0, $0) }
            if let started, started >= acked { continue }
            let from = started.map { "checkpoint \($0.0).\($0.1)" } ?? "no checkpoint"
            outcome.violations.append(.init(
                rule: outcome.rule,
                text: "\(agent) started on \(spawn.node) at \(at(spawn.ts)) from \(from), but checkpoint \(acked.0).\(acked.1)"
                    + " was acknowledged on \(ack.node) at \(at(ack.ts))",
                records: [ack, spawn]))
        }
        return outcome
    }

    /// Every acknowledged message id ends in exactly one of: delivered once, or `send_failed`.
    func messages() -> HistoryVerdict.RuleOutcome {
        let acks = records(Vocabulary.messageAcknowledged)
        var outcome = HistoryVerdict.RuleOutcome(rule: "messages", title: "no acknowledged message lost without send_failed",
                                                 checked: acks.count, unit: "acknowledged messages")
        if acks.isEmpty {
            outcome.notChecked = "no \(Vocabulary.messageAcknowledged[0]) records"
            return outcome
        }
        func key(_ event: EventRecord) -> String? {
            guard let sender = Vocabulary.sender(event), let id = event["id"] else { return nil }
            return sender + "\u{0}" + id
        }
        let delivered = Dictionary(grouping: records(Vocabulary.messageDelivered).filter { key($0) != nil }, by: { key($0)! })
        let failed = Dictionary(grouping: records(Vocabulary.sendFailed).filter { key($0) != nil }, by: { key($0)! })
        var seen: Set<String> = []
        for ack in acks {
            guard let key = key(ack), seen.insert(key).inserted else { continue }
            let arrivals = delivered[key] ?? []
            let failures = failed[key] ?? []
            let name = "message \(ack["id"] ?? "?") from \(Vocabulary.sender(ack) ?? "?")"
            let problem: String? = switch (arrivals.count, failures.count) {
            case (1, 0), (0, 1): nil
            case (0, 0): ack.ts + settings.settleBoundMs > end ? nil
                : "\(name), acknowledged at \(at(ack.ts)), was neither delivered nor failed with send_failed"
            case (let n, 0): "\(name) was delivered \(n) times"
            case (0, let n): "\(name) failed \(n) times"
            default: "\(name) was both delivered and failed"
            }
            if arrivals.isEmpty && failures.isEmpty && ack.ts + settings.settleBoundMs > end { outcome.pending += 1 }
            guard let problem else { continue }
            outcome.violations.append(.init(rule: outcome.rule, text: problem,
                                            records: ([ack] + arrivals + failures).sorted(by: EventRecord.before)))
        }
        outcome.checked = seen.count
        return outcome
    }
}
