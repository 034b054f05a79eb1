/// `relaunch_quorum majority`: only a side that sees most of the cluster
/// relaunches, and only once its view has settled.
///
/// Counting the members seen alive at the moment of a dead verdict is not
/// enough: in a partition the other side's members turn suspect one by one,
/// and a node whose probes keep failing probes more slowly (Lifeguard's local
/// health), so a minority may still count a member across the cut alive
/// seconds after it declared another one dead. The majority must therefore
/// have held for `quorumGrace`, and `quorumGrace` must have passed since the
/// agent's host was lost: by then a member across the cut has been probed
/// and suspected, and the minority sees itself for what it is. (Counting
/// from the last loss of any member starved relaunches for minutes in a
/// soak whose faults kept some member dying.)
extension AgentRegistry {
    /// The members this node sees alive, of those it knows (left ones aside).
    var liveMembers: (live: Int, known: Int) {
        (viewCounts.alive, viewCounts.notLeft)
    }

    /// Whether this node sees a majority of the members it knows alive.
    var seesLiveMajority: Bool {
        let members = liveMembers
        return members.live * 2 > members.known
    }

    /// A guarded agent fenced here does not restart while this node sees no
    /// majority: the majority may have relaunched it (it looks again later).
    func holdsFencedRestart(of name: String) -> Bool {
        quorum == .majority && !seesLiveMajority && guardians(of: name).contains { $0.spec.policy.relaunches }
    }

    /// When this node lost `record`'s host: its own verdict on that generation
    /// when it made one after the host's death (a record adopted for a host
    /// held dead long before, declared lost when its fresh-news grace ran
    /// out), else when the host stopped being live here.
    func lossTime(of record: AgentRecord) -> Instant? {
        let noticed = lossNoticed[record.name].flatMap { $0.generation == record.generation ? $0.at : nil }
        switch (goneSince[record.host], noticed) {
        case let (gone?, noticed?): return max(gone, noticed)
        case let (gone, noticed): return gone ?? noticed
        }
    }

    /// Called with every new view: starts or ends the span in which the majority held.
    mutating func noteQuorum(now: Instant) {
        if !seesLiveMajority { quorumSince = nil } else if quorumSince == nil { quorumSince = now }
    }

    /// Nil when this side may relaunch `record` now, else why not. A relaunch
    /// held back only by the grace is looked at again when it ends (`quorumWake`).
    mutating func quorumPermits(relaunching record: AgentRecord, now: Instant) -> String? {
        guard quorum == .majority else { return nil }
        guard seesLiveMajority, let since = quorumSince else {
            let members = liveMembers
            return "relaunch_quorum majority: this side sees \(members.live) of \(members.known) members"
        }
        let settled = max(since, lossTime(of: record) ?? since) + quorumGrace
        guard now >= settled else {
            quorumWake = min(quorumWake ?? settled, settled)
            return "relaunch_quorum majority: a majority must hold for \(quorumGrace) after \(record.host) was lost"
        }
        return nil
    }
}
