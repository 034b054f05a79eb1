/// Push-pull state sync (memberlist's anti-entropy), joins, reconnecting to
/// dead members after a partition, and forgetting the long dead.
extension Membership {
    /// A full-state message from this node.
    func pushPull(isReply: Bool, isJoin: Bool) -> Message {
        // The table's own order is deterministic: no sort needed.
        let states = table.rows.map {
            MemberState(id: $0.id, meta: $0.meta, status: $0.status, incarnation: $0.incarnation, signature: $0.leftSignature)
        }
        return .pushPull(from: me, replyTo: meta.endpoint, isReply: isReply, isJoin: isJoin, states: states)
    }

    /// Beyond 32 members the period grows with log2(N / 32), as memberlist
    /// scales it, so push-pull bytes per node stay roughly flat.
    var pushPullPeriod: Duration {
        let n = clusterSize
        guard n > 32 else { return settings.pushPullInterval }
        var factor = 1
        var size = 32
        while size < n { size *= 2; factor += 1 }
        return settings.pushPullInterval.scaled(by: Double(factor))
    }

    /// Merges a peer's whole view. A remote *dead* becomes only a suspicion
    /// here (as in memberlist), so a stale view cannot kill a live member.
    mutating func merge(_ states: [MemberState], from sender: NodeID, now: Instant,
                        into directives: inout [MembershipDirective]) {
        for state in states {
            let known = table[state.id.name]
            let unknownBoot = known.map { $0.id.uid < state.id.uid } ?? true
            switch state.status {
            case .alive:
                apply(.alive(state.id, incarnation: state.incarnation, meta: state.meta), now: now, into: &directives)
            case .suspect, .dead:
                if unknownBoot {
                    // Learn it as alive only if it is still live for the sender; never resurrect the dead.
                    guard state.status == .suspect else { continue }
                    apply(.alive(state.id, incarnation: state.incarnation, meta: state.meta), now: now, into: &directives)
                }
                if state.id.name == me.name {
                    apply(state.status == .dead ? .dead(state.id, incarnation: state.incarnation, by: sender.name)
                                                : .suspect(state.id, incarnation: state.incarnation, by: sender.name),
                          now: now, into: &directives)
                } else {
                    suspectFromSync(state, sender: sender, now: now, into: &directives)
                }
            case .left:
                apply(.left(state.id, incarnation: state.incarnation, signature: state.signature), now: now, into: &directives)
            }
        }
    }

    /// A remote view's suspect or dead may be stale (a healed partition's
    /// old verdicts), so it starts only a full-length suspicion and never
    /// counts as an independent confirmation: the member has the whole
    /// Lifeguard maximum to refute.
    mutating func suspectFromSync(_ state: MemberState, sender: NodeID, now: Instant,
                                  into directives: inout [MembershipDirective]) {
        guard let known = table[state.id.name], known.id == state.id, known.status.isActive,
              state.incarnation >= known.incarnation,
              known.status == .alive || state.incarnation > known.incarnation else { return }
        let maximum = suspicionBounds.maximum
        suspect(state.id, incarnation: state.incarnation, by: sender.name, now: now, bounds: (maximum, maximum),
                into: &directives)
    }

    /// Push-pull with one random dead member: if it is back (a partition
    /// healed, or it was wrongly declared), both sides merge and refute.
    mutating func reconnectToOneDead(into directives: inout [MembershipDirective]) {
        guard table.deadCount > 0, let peer = randomMember(where: { $0.status == .dead }) else { return }
        directives.append(.send(pushPull(isReply: false, isJoin: false), to: peer.meta.endpoint))
    }

    /// Forgets dead and left members after the retention period.
    mutating func reap(now: Instant, into directives: inout [MembershipDirective]) {
        guard table.activeCount < table.count else { return }  // nothing dead or left: no walk
        let expired = table.rows.filter { !$0.status.isActive && $0.id != me && now.since($0.changedAt) >= settings.deadRetention }
        for member in expired {
            table[member.id.name] = nil
            suspicions[member.id.name] = nil
            broadcasts.remove(subject: member.id.name)
            directives.append(.memberForgotten(member.id))
        }
    }
}
