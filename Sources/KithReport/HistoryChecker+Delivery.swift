/// Nothing acknowledged is lost silently: rules over the records of
/// acknowledged checkpoints and messages. Which records those are is data
/// (`Vocabulary`), so the rules check whatever the daemons record.
extension HistoryChecker {
    /// The event names and keys the delivery rules read.
    package enum Vocabulary {
        /// The host answered `ok` to a checkpoint: `agent`, `generation` and `checkpoint_seq` (a record's own `seq` is its place in the log).
        package static let checkpointAcknowledged = ["checkpoint_acknowledged"]
        /// `agent_spawned` carries the checkpoint it was started with in these keys (0: none).
        package static let spawnCheckpointGeneration = "checkpoint_generation"
        package static let spawnCheckpointSeq = "checkpoint_seq"
        package static let acknowledgedSeq = "checkpoint_seq"
        /// The sending daemon answered `ok` to the messages `first_seq`...`last_seq` of a stream (`from`, `generation`,
        /// `to`, and `via`, the sending daemon's endpoint).
        package static let messagesAcknowledged = "messages_acknowledged"
        /// The receiving daemon handed a stream's messages `first_seq`...`last_seq` to the copy `to_generation` of `to`.
        package static let messagesDelivered = "messages_delivered"
        /// The sending daemon told the sender that a stream's messages `first_seq`...`last_seq` will not arrive.
        package static let sendFailed = "send_failed"
        /// Records after which a daemon's memory (its outbox) is gone.
        package static let daemonEnds = ["kill_requested", "shutdown_requested", "leaving"]
    }

    private func records(_ names: [String]) -> [EventRecord] {
        names.flatMap(analyzer.events).sorted(by: EventRecord.before)
    }

    /// Every process of an agent started after its host acknowledged a checkpoint starts from that
    /// checkpoint or a newer one. Hosts write the newest acknowledgement per agent at most a second
    /// late (coalesced); a spawn is judged only against records written before it, so one inside that
    /// window is judged against an older acknowledgement, never against one the log does not show.
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
            let started = spawn.int(Vocabulary.spawnCheckpointSeq).flatMap { $0 > 0 ? (spawn.int(Vocabulary.spawnCheckpointGeneration) ?? 0, $0) : nil }
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

    /// One sender copy's stream of messages to one receiver, as the delivery records name it: `via`, the
    /// sending daemon's endpoint, keeps apart two copies of one generation (a split can start both).
    struct Stream: Hashable, Comparable {
        var from: String
        var generation: Int64
        var to: String
        var via: String

        init?(_ event: EventRecord) {
            guard let from = event["from"], let to = event["to"], let generation = event.int("generation") else { return nil }
            self.from = from
            self.generation = generation
            self.to = to
            via = event["via"] ?? ""
        }

        static func < (a: Stream, b: Stream) -> Bool { (a.from, a.generation, a.to, a.via) < (b.from, b.generation, b.to, b.via) }
        var name: String { "\(from) (generation \(generation)) to \(to)" + (via.isEmpty ? "" : " via \(via)") }
    }

    /// A record's places `first_seq`...`last_seq` as a half-open interval, nil when malformed.
    static func places(_ event: EventRecord) -> (Int64, Int64)? {
        guard let first = event.int("first_seq"), let last = event.int("last_seq"), first >= 1, last >= first,
              last < Int64.max else { return nil }
        return (first, last + 1)
    }

    static func describe(_ spans: [(Int64, Int64)]) -> String {
        spans.map { $0.1 - $0.0 == 1 ? "\($0.0)" : "\($0.0)-\($0.1 - 1)" }.joined(separator: ", ")
    }

    /// When each node's daemon lost its memory (its outbox with it), as late as the records allow: a
    /// kill, shutdown or leave it recorded; its last record before a new boot (a crash it did not
    /// record); its last record when another node later recorded it dead and it never wrote again.
    func memoryLosses() -> [String: [Int64]] {
        var losses: [String: [Int64]] = [:]
        var last: [String: EventRecord] = [:]
        for event in history.events {
            if Vocabulary.daemonEnds.contains(event.event) { losses[event.node, default: []].append(event.ts) }
            if event.event == "started", let previous = last[event.node] { losses[event.node, default: []].append(previous.ts) }
            last[event.node] = event
        }
        for (node, final) in last where analyzer.events("member_changed").contains(where: {
            $0.node != node && $0["member"] == node && $0["state"] == "dead" && $0.ts >= final.ts
        }) {
            losses[node, default: []].append(final.ts)
        }
        return losses
    }

    /// Every message acknowledged `ok` to its sender was delivered to some copy of its receiver or
    /// failed with `send_failed`, and no copy got one twice.
    ///
    /// The daemons record ranges per stream, coalesced, so a crash loses the newest unwritten
    /// record of its daemon; the rule is built so that this cannot look like a loss:
    /// - a receiving daemon writes `messages_delivered` before the acknowledgement covering it
    ///   leaves, so a delivery a crash kept out of the log was never acknowledged, and the sending
    ///   daemon sends it again (to the relaunched copy) or fails it: recorded either way;
    /// - a lost `messages_acknowledged` only removes places from what is judged;
    /// - a place whose outcome is missing while its sending daemon lost its memory within
    ///   `outboxBoundMs` of the acknowledgement record (a crash, kill or leave) is lost with its
    ///   sender, as the README's guarantee says, and counted `excused`, not violated. Otherwise every
    ///   place ends within the outbox's give-up time, its `send_failed` written a second later.
    /// Places acknowledged within `settleBoundMs` of the end of the history are pending. Delivered
    /// to two copies is the documented "once per copy"; delivered and failed, the documented
    /// acknowledgement cut off by a crash: neither is a violation. Twice to one copy is.
    func messages() -> HistoryVerdict.RuleOutcome {
        var outcome = HistoryVerdict.RuleOutcome(rule: "messages", title: "no acknowledged message lost without send_failed",
                                                 checked: 0, unit: "acknowledged messages")
        let acks = analyzer.events(Vocabulary.messagesAcknowledged)
        if acks.isEmpty {
            outcome.notChecked = "no \(Vocabulary.messagesAcknowledged) records"
            return outcome
        }
        func byStream(_ records: [EventRecord]) -> [Stream: [EventRecord]] {
            var grouped: [Stream: [EventRecord]] = [:]
            for record in records where Self.places(record) != nil {
                if let stream = Stream(record) { grouped[stream, default: []].append(record) }
            }
            return grouped
        }
        let acknowledged = byStream(acks)
        let delivered = byStream(analyzer.events(Vocabulary.messagesDelivered))
        let failed = byStream(analyzer.events(Vocabulary.sendFailed))
        let losses = memoryLosses()
        let boots = Dictionary(grouping: analyzer.events("started"), by: \.node).mapValues { $0.map(\.seq) }
        var excused = 0
        for (stream, acks) in acknowledged.sorted(by: { $0.key < $1.key }) {
            let arrivals = delivered[stream] ?? []
            // Twice to one copy: two records of the same receiving copy overlapping. A copy is a generation
            // on one node during one boot of its daemon (a daemon restarted in time may run the same generation again).
            func copy(_ record: EventRecord) -> String {
                let boot = (boots[record.node] ?? []).filter { $0 < record.seq }.count
                return "\(record.node), generation \(record.int("to_generation") ?? -1)" + (boot > 1 ? ", boot \(boot)" : "")
            }
            for (copy, records) in Dictionary(grouping: arrivals, by: copy).sorted(by: { $0.key < $1.key }) {
                var seen: [(Int64, Int64)] = []
                for record in records {
                    let span = Self.places(record)!
                    let twice = seen.compactMap { max($0.0, span.0) < min($0.1, span.1) ? (max($0.0, span.0), min($0.1, span.1)) : nil }
                    seen.append(span)
                    guard !twice.isEmpty else { continue }
                    let earlier = records.filter { other in
                        let o = Self.places(other)!
                        return other.seq != record.seq && max(o.0, span.0) < min(o.1, span.1)
                    }
                    outcome.violations.append(.init(
                        rule: outcome.rule,
                        text: "messages \(Self.describe(twice)) of \(stream.name) were delivered twice to one copy"
                            + " (\(copy))",
                        records: (earlier + [record]).sorted(by: EventRecord.before)))
                }
            }
            let ends = (arrivals + (failed[stream] ?? [])).map { Self.places($0)! }
            for ack in acks {
                let span = Self.places(ack)!
                outcome.checked += Int(span.1 - span.0)
                let missing = Intervals.subtract([span], ends)
                guard !missing.isEmpty else { continue }
                let count = missing.reduce(0) { $0 + Int($1.1 - $1.0) }
                if (losses[ack.node] ?? []).contains(where: { $0 >= ack.ts && $0 <= ack.ts + settings.outboxBoundMs }) {
                    excused += count
                    continue
                }
                if ack.ts + settings.settleBoundMs > end {
                    outcome.pending += count
                    continue
                }
                outcome.violations.append(.init(
                    rule: outcome.rule,
                    text: "messages \(Self.describe(missing)) of \(stream.name), acknowledged by \(ack.node) at \(at(ack.ts)),"
                        + " were neither delivered nor failed with send_failed",
                    records: [ack]))
            }
        }
        if excused > 0 { outcome.unit += " (\(excused) lost with their sending daemon)" }
        return outcome
    }
}
