#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Applying rumours: the SWIM 4.2 ordering of alive, suspect and dead by
/// incarnation, refutation of suspicions about this node, and the rule that
/// a higher uid (a later boot under the same name) replaces a lower one.
extension Membership {
    mutating func apply(_ rumours: [Gossip], now: Instant, into directives: inout [MembershipDirective]) {
        for rumour in rumours { apply(rumour, now: now, into: &directives) }
    }

    mutating func apply(_ rumour: Gossip, now: Instant, into directives: inout [MembershipDirective]) {
        let subject = rumour.subject
        answerIfStale(rumour)
        if subject.name == me.name {
            refuteIfNeeded(rumour, into: &directives)
            return
        }
        let known = table[subject.name]
        if let known, known.id.uid > subject.uid { return }          // about an earlier boot: stale
        let isNewBoot = known.map { $0.id.uid < subject.uid } ?? true
        switch rumour {
        case let .alive(id, incarnation, meta):
            if !isNewBoot, let known {
                guard known.status != .left, incarnation > known.incarnation else { return }
            }
            guard admitsKey(of: rumour, meta: meta, into: &directives) else { return }
            if known == nil {
                // A new name: bounded per frame and in total, so one forged frame cannot flood the table.
                guard newMembersThisFrame < settings.newMembersPerFrameMax, table.count < settings.membersMax else { return }
                newMembersThisFrame += 1
            }
            setStatus(of: id, to: .alive, incarnation: incarnation, meta: meta, now: now, into: &directives)
            broadcasts.enqueue(rumour)
        case let .suspect(id, incarnation, by):
            guard !isNewBoot, let known, known.status.isActive, incarnation >= known.incarnation else { return }
            if known.status == .suspect && incarnation == known.incarnation {
                if suspicions[id.name]?.confirm(by: by) == true { broadcasts.enqueue(rumour) }
            } else {
                suspect(id, incarnation: incarnation, by: by, now: now, bounds: nil, into: &directives)
            }
        case let .dead(id, incarnation, _):
            guard !isNewBoot, let known, known.status.isActive, incarnation >= known.incarnation else { return }
            setStatus(of: id, to: .dead, incarnation: incarnation, meta: known.meta, now: now, into: &directives)
            broadcasts.enqueue(rumour)
        case let .left(id, incarnation, signature):
            // A goodbye from a boot we never saw alive is of no use to anyone.
            guard !isNewBoot, let known, known.status != .left else { return }
            // Only the member itself may say it left: that is final for its boot.
            let statement = NodeStatement.left(id)
            guard let key = pinnedKeys[id.name], !key.isEmpty,
                  verifier.verify(signature: signature, of: statement, key: key) else {
                refuse("left", about: id.name, reason: "not signed by \(id.name)'s key", into: &directives)
                return
            }
            setStatus(of: id, to: .left, incarnation: max(incarnation, known.incarnation), meta: known.meta,
                      leftSignature: signature, now: now, into: &directives)
            broadcasts.enqueue(rumour)
        }
    }

    /// Whether the key an `alive` announces may speak for its name: the key
    /// pinned for it, or one an operator's certificate binds to it (which
    /// then replaces the pin). Without a pin and without certificates in this
    /// cluster, the first key seen is pinned. Checked only when an alive
    /// changes something (new name, boot or incarnation), never per probe;
    /// a certificate is verified only for a key not pinned yet.
    mutating func admitsKey(of rumour: Gossip, meta: NodeMeta, into directives: inout [MembershipDirective]) -> Bool {
        let name = rumour.subject.name
        let pinned = pinnedKeys[name]
        if let pinned, pinned == meta.key, !pinned.isEmpty { return true }
        let refusal: String
        switch verifier.certify(name: name, key: meta.key, certificate: meta.certificate) {
        case .valid:
            pin(meta.key, for: name)
            return true
        case .absent where pinned == nil && !meta.key.isEmpty:
            pin(meta.key, for: name)
            return true
        case .absent:
            refusal = meta.key.isEmpty ? "announces no key" : "announces a key other than the one pinned for \(name)"
        case .invalid(let reason):
            refusal = reason
        }
        refuse("alive", about: name, reason: refusal, into: &directives)
        return false
    }

    /// Pins survive reaping, but not without bound: at `membersMax` pins,
    /// those of names no longer in the table go first.
    mutating func pin(_ key: [UInt8], for name: String) {
        if pinnedKeys[name] == nil, pinnedKeys.count >= settings.membersMax {
            pinnedKeys = pinnedKeys.filter { table[$0.key] != nil }
        }
        pinnedKeys[name] = key
    }

    mutating func refuse(_ what: String, about subject: String, reason: String, into directives: inout [MembershipDirective]) {
        forgedRefused = forgedRefused.saturatingSuccessor
        directives.append(.forgedRefused(what: what, subject: subject, from: sender, reason: reason))
    }

    /// Someone suspects or buried this node: raise the incarnation and say
    /// alive louder (SWIM 4.2). Being suspected also hints that this node is
    /// slow, so its health multiplier rises (Lifeguard IV.A).
    mutating func refuteIfNeeded(_ rumour: Gossip, into directives: inout [MembershipDirective]) {
        guard rumour.subject == me else { return }  // a rumour about an earlier boot of this name is moot
        switch rumour {
        case .suspect, .dead:
            // At the top of the range a refutation cannot outbid; equal incarnations still let alive win locally.
            guard rumour.incarnation >= incarnation, rumour.incarnation < .max else {
                // Refuted as a suspicion, buried all the same by a member that had not heard the refutation
                // (a verdict sent straight to this node can overtake it): its agents may run elsewhere now.
                if case .dead = rumour, rumour.incarnation == refutedSuspicion {
                    refutedSuspicion = nil
                    directives.append(.declaredDead(incarnation: rumour.incarnation))
                }
                return
            }
            if case .dead = rumour { directives.append(.declaredDead(incarnation: rumour.incarnation)) }
            if case .suspect = rumour { refutedSuspicion = rumour.incarnation } else { refutedSuspicion = nil }
            incarnation = rumour.incarnation + 1
            adjustHealth(1)
            if var member = table[me.name] {
                member.incarnation = incarnation
                table[me.name] = member
                directives.append(.memberUpdated(member))
            }
            announceRefutation(into: &directives)
            directives.append(.refuted(incarnation: incarnation))
        case .alive, .left:
            return
        }
    }

    /// Starts (or raises) a suspicion. `bounds` overrides Lifeguard's
    /// timeouts, for a refused connection's short fuse.
    mutating func suspect(_ id: NodeID, incarnation: UInt32, by suspecter: String, now: Instant,
                          bounds: (Duration, Duration)?, into directives: inout [MembershipDirective]) {
        guard let known = table[id.name], known.id == id else { return }
        let (low, high) = bounds ?? suspicionBounds
        // A small cluster cannot supply more confirmers than it has other members (memberlist does the same).
        let confirmers = clusterSize - 2
        let wanted = max(0, Int(settings.suspicionMultiplier) - 2)
        let expectedConfirmations = confirmers < wanted ? 0 : wanted
        suspicions[id.name] = Suspicion(incarnation: incarnation, startedAt: now, minimum: low, maximum: high,
                                        expectedConfirmations: expectedConfirmations,
                                        suspecters: [suspecter])
        setStatus(of: id, to: .suspect, incarnation: incarnation, meta: known.meta, now: now, into: &directives)
        broadcasts.enqueue(.suspect(id, incarnation: incarnation, by: suspecter))
    }

    /// Lifeguard's bounds for this cluster size: at least
    /// `suspicionMultiplier * log10(N + 1)` probe periods, at most
    /// `suspicionMaxMultiplier` times that.
    /// The shortest time in which this node can be suspected and declared
    /// dead: a freeze this long may have cost it its membership.
    public var shortestSuspicion: Duration { suspicionBounds.minimum }

    var suspicionBounds: (minimum: Duration, maximum: Duration) {
        let n = Double(max(clusterSize, 1))
        let minimum = settings.probeInterval.scaled(by: settings.suspicionMultiplier * max(1, log10(n + 1)))
        return (minimum, minimum.scaled(by: settings.suspicionMaxMultiplier))
    }

    /// Suspicions whose time ran out become deaths, told to everyone.
    mutating func expireSuspicions(now: Instant, into directives: inout [MembershipDirective]) {
        for (name, suspicion) in suspicions.sorted(by: { $0.key < $1.key }) where now >= suspicion.deadline {
            suspicions[name] = nil
            guard let member = table[name], member.status == .suspect else { continue }
            declareDead(member, now: now, into: &directives)
        }
    }
}
