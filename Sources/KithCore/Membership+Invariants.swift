/// What must hold after every input, and what must not (TigerBeetle's
/// habit): checked in debug builds and in every simulation, free in release.
extension Membership {
    /// Fails loudly, naming the broken rule, if the state is inconsistent.
    public func assertInvariants() {
        assert(checkInvariants() == nil, "membership of \(me): \(checkInvariants() ?? "")")
    }

    /// The first broken rule, nil when the state is consistent. Not inlined
    /// in `assertInvariants` so that tests can check it in release builds.
    func checkInvariants() -> String? {
        guard let mine = table[me.name], mine.id == me else { return "this node is missing from its own table" }
        if mine.status != (hasLeft ? .left : .alive) { return "this node is \(mine.status) in its own table" }
        if mine.incarnation != incarnation { return "own row at incarnation \(mine.incarnation), not \(incarnation)" }
        if table.count > max(settings.membersMax, 1) { return "\(table.count) members exceed \(settings.membersMax)" }
        if !(0...settings.maxLocalHealth).contains(localHealth) { return "local health \(localHealth) out of range" }
        if relays.count > settings.relaysMax { return "\(relays.count) relays exceed \(settings.relaysMax)" }
        if broadcasts.count > table.count { return "\(broadcasts.count) rumours for \(table.count) members" }
        for (name, member) in table.entries where member.id.name != name { return "row \(name) holds \(member.id)" }
        let recounted = table.recounted
        if recounted.active != table.activeCount || recounted.dead != table.deadCount {
            return "counts \(table.activeCount) active, \(table.deadCount) dead; recounted \(recounted.active), \(recounted.dead)"
        }
        for (name, suspicion) in suspicions {
            guard let member = table[name], member.status == .suspect else {
                return "a suspicion of \(name), which is \(table[name]?.status.description ?? "unknown")"
            }
            if member.incarnation != suspicion.incarnation {
                return "suspicion of \(name) at incarnation \(suspicion.incarnation), member at \(member.incarnation)"
            }
            if suspicion.suspecters.isEmpty { return "suspicion of \(name) without a suspecter" }
            if suspicion.confirmations > suspicion.expectedConfirmations {
                return "suspicion of \(name) has \(suspicion.confirmations) confirmations, k = \(suspicion.expectedConfirmations)"
            }
            if suspicion.minimum > suspicion.maximum { return "suspicion of \(name) has minimum above maximum" }
            if suspicion.deadline < suspicion.startedAt { return "suspicion of \(name) ends before it started" }
        }
        for member in table.values where member.status == .suspect && suspicions[member.id.name] == nil {
            return "\(member.id) is suspect without a running suspicion"
        }
        if let probe {
            if probe.target == me { return "probing itself" }
            if probe.nacks > probe.expectedNacks { return "\(probe.nacks) nacks from \(probe.expectedNacks) helpers" }
        }
        if probeIndex > probeOrder.count { return "probe index \(probeIndex) past \(probeOrder.count)" }
        return nil
    }
}
