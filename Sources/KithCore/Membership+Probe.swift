/// Failure detection: the probe cycle (SWIM 4.1, 4.3) with Lifeguard's
/// health-scaled timeouts and nacks (IV.A) and the buddy system (IV.C).
extension Membership {
    /// Moves the current probe along: indirect probes at the timeout,
    /// suspicion at the deadline, and the next probe at the next period.
    mutating func advanceProbe(now: Instant, into directives: inout [MembershipDirective]) {
        if var current = probe {
            if !current.indirectSent && now >= current.indirectAt {
                current.indirectSent = true
                current.expectedNacks = sendIndirectProbes(for: current, into: &directives)
                probe = current
            }
            if now >= current.deadline {
                probe = nil
                probeFailed(current, now: now, into: &directives)
            }
        }
        if now >= nextProbeAt {
            if let current = probe {
                // The period ended while the probe was still pending (its deadline equals the period).
                probe = nil
                probeFailed(current, now: now, into: &directives)
            }
            let period = scaled(settings.probeInterval)
            nextProbeAt = now + period
            guard let target = nextProbeTarget() else { return }
            let seq = takeSeq()
            probe = Probe(target: target.id, seq: seq, indirectAt: now + scaled(settings.probeTimeout), deadline: now + period)
            // Buddy system: a suspected member hears of its suspicion first, so it can refute,
            // also once the rumour has left our queue (memberlist sends it from the state too):
            // under 5% loss every queue had retired it before the suspect heard, and it died unheard.
            let first = target.status == .suspect ? target.id.name : nil
            var gossip = piggyback(first: first)
            if target.status == .suspect, !gossip.contains(where: { $0.subject == target.id }) {
                gossip = [.suspect(target.id, incarnation: target.incarnation, by: me.name)]
                    + gossip.prefix(settings.maxPiggyback - 1)
            }
            directives.append(.send(.ping(seq: seq, from: me, replyTo: meta.endpoint, target: target.id,
                                          gossip: gossip), to: target.meta.endpoint))
        }
    }

    /// Round-robin over a shuffled list, reshuffled each round (SWIM 4.3), so
    /// every member is probed within one round whatever the randomness.
    mutating func nextProbeTarget() -> Member? {
        for _ in 0..<2 {
            while probeIndex < probeOrder.count {
                let name = probeOrder[probeIndex]
                probeIndex += 1
                if let member = table[name], member.id != me, member.status.isActive { return member }
            }
            probeOrder = activeOthers.map(\.id.name)
            probeOrder.shuffle(using: &rng)
            probeIndex = 0
        }
        return nil
    }

    /// Asks up to k other members to ping the target; returns how many were asked.
    mutating func sendIndirectProbes(for probe: Probe, into directives: inout [MembershipDirective]) -> Int {
        guard let target = table[probe.target.name], target.id == probe.target else { return 0 }
        let chosen = helpers(for: probe.target)
        for helper in chosen {
            directives.append(.send(.pingReq(seq: probe.seq, from: me, replyTo: meta.endpoint, target: probe.target,
                                             targetEndpoint: target.meta.endpoint, gossip: piggyback()),
                                    to: helper.meta.endpoint))
        }
        return chosen.count
    }

    /// Up to k alive members other than this node and `target`, drawn at
    /// random: k draws with rejection in a large table (sorting every member
    /// per probe made each probe O(N log N)), a shuffle of all candidates when
    /// draws keep missing (a small or mostly dead table).
    mutating func helpers(for target: NodeID) -> [Member] {
        let k = settings.indirectProbes
        guard k > 0 else { return [] }
        var chosen: [Member] = []
        var draws = 0
        while chosen.count < k && draws < k * Self.drawsBeforeScan {
            draws += 1
            let member = table.rows[randomIndex(below: table.rows.count)]
            if member.id != me && member.id != target && member.status == .alive && !chosen.contains(where: { $0.id == member.id }) {
                chosen.append(member)
            }
        }
        if chosen.count == k { return chosen }
        var candidates = table.rows.filter { $0.id != me && $0.id != target && $0.status == .alive }
        candidates.shuffle(using: &rng)
        return Array(candidates.prefix(k))
    }

    /// No ack by the deadline: suspect the target. Missing nacks mean the
    /// helpers could not answer us either, so the fault may be ours (Lifeguard IV.A).
    mutating func probeFailed(_ failed: Probe, now: Instant, into directives: inout [MembershipDirective]) {
        adjustHealth(failed.expectedNacks > 0 ? failed.expectedNacks - min(failed.nacks, failed.expectedNacks) : 1)
        guard let target = table[failed.target.name], target.id == failed.target else { return }
        switch target.status {
        case .alive:
            suspect(target.id, incarnation: target.incarnation, by: me.name, now: now, bounds: nil, into: &directives)
        case .suspect:
            // Our own failed probe is an independent confirmation (Lifeguard IV.B).
            let confirmer = me.name  // read apart from the write to `suspicions`
            if suspicions[target.id.name]?.confirm(by: confirmer) == true {
                broadcasts.enqueue(.suspect(target.id, incarnation: target.incarnation, by: me.name))
            }
        case .dead, .left:
            return
        }
    }

    mutating func handleAck(seq: UInt32, from: NodeID, into directives: inout [MembershipDirective]) {
        if let relay = relays.removeValue(forKey: seq) {
            directives.append(.send(.ack(seq: relay.originSeq, from: from, gossip: piggyback()), to: relay.origin))
            return
        }
        guard let current = probe, current.seq == seq, current.target == from else { return }
        probe = nil
        adjustHealth(-1)
    }

    /// Pings `target` for another member and remembers to answer either way.
    mutating func relay(seq: UInt32, origin: Endpoint, target: NodeID, targetEndpoint: Endpoint, now: Instant,
                        into directives: inout [MembershipDirective]) {
        guard relays.count < settings.relaysMax else { return }
        let mySeq = takeSeq()
        // The origin gives up at the end of its period, `interval - timeout` after it asked us;
        // a nack at 80% of that window reaches it in time (Lifeguard IV.A needs the nack to arrive).
        let window = settings.probeInterval.nanoseconds - settings.probeTimeout.nanoseconds
        relays[mySeq] = Relay(originSeq: seq, origin: origin, nackAt: now + .nanoseconds(window * 8 / 10),
                              expiresAt: now + scaled(settings.probeInterval))
        directives.append(.send(.ping(seq: mySeq, from: me, replyTo: meta.endpoint, target: target, gossip: piggyback()),
                                to: targetEndpoint))
    }

    /// Relays that heard nothing in time answer their origin with a nack, and
    /// keep waiting for a late ack until the origin's probe period is over.
    mutating func expireRelays(now: Instant, into directives: inout [MembershipDirective]) {
        for (seq, relay) in relays.sorted(by: { $0.key < $1.key }) {
            if now >= relay.expiresAt {
                relays[seq] = nil
            } else if !relay.nackSent && now >= relay.nackAt {
                relays[seq]?.nackSent = true
                directives.append(.send(.nack(seq: relay.originSeq, from: me), to: relay.origin))
            }
        }
    }
}
