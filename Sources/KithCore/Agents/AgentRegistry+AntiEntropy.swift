/// Anti-entropy by digest: every `syncInterval` a node sends one random member
/// the digest of its registry, a stamp per record and tombstone without the
/// operator proofs (tens of bytes instead of hundreds each). Full records and
/// tombstones travel only where the digests differ, so an idle cluster gossips
/// stamps; changes are still pushed whole to every member as they happen.
///
/// A digest grants nothing: the receiver only sends what it holds, and adopts
/// only full records and tombstones, through `merge` and `adopt` and their proof checks.
extension AgentRegistry {
    /// This node's whole registry as stamps, names ascending.
    func digestMessage(isReply: Bool) -> Message {
        .agentDigest(from: me, replyTo: view[me.name]?.meta.endpoint ?? "", isReply: isReply,
                     records: records.values.map(\.digest).sorted { $0.name < $1.name },
                     tombstones: tombstones.values.map(\.digest).sorted { $0.agent < $1.agent })
    }

    /// A peer's digest: push it what this node holds newer (or it lacks); when
    /// it holds something newer (or this node lacks it) and the digest is no
    /// reply, answer with this node's digest so that the peer pushes it.
    mutating func receiveDigest(from peer: NodeID, replyTo: Endpoint, isReply: Bool, records theirRecords: [RecordDigest],
                                tombstones theirTombstones: [TombstoneDigest], now: Instant) -> [AgentDirective] {
        guard peer != me else { return [] }
        var directives: [AgentDirective] = []
        let theirs = Dictionary(theirRecords.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let theirSwitches = Dictionary(theirTombstones.map { ($0.agent, $0) }, uniquingKeysWith: { first, _ in first })
        let newerRecords = records.values
            .filter { mine in theirs[mine.name].map { mine.digest.supersedes($0) } ?? true }
            .sorted { $0.name < $1.name }
        let newerTombstones = tombstones.values
            .filter { mine in theirSwitches[mine.agent].map { mine.digest.supersedes($0) } ?? true }
            .sorted { $0.agent < $1.agent }
        if !newerRecords.isEmpty {
            directives.append(.send(.agents(from: me, replyTo: view[me.name]?.meta.endpoint ?? "", wantsReply: false,
                                            records: newerRecords), to: replyTo))
        }
        if !newerTombstones.isEmpty {
            directives.append(.send(.tombstones(from: me, tombstones: newerTombstones), to: replyTo))
        }
        if !isReply {
            let theyHoldNewer = theirRecords.contains { stamp in records[stamp.name].map { stamp.supersedes($0.digest) } ?? true }
                || theirTombstones.contains { stamp in tombstones[stamp.agent].map { stamp.supersedes($0.digest) } ?? true }
            if theyHoldNewer { directives.append(.send(digestMessage(isReply: true), to: replyTo)) }
        }
        reconcile(now: now, into: &directives)
        return directives
    }
}
