import KithCore

/// What the nodes believe: the mirror of their tables, queries over the
/// recorded history, and the conditions scenarios wait for.
extension Simulation {
    // MARK: Recording

    func observe(_ observation: Observation, observer i: Int) {
        observationCount += 1
        if keepsObservations { observations.append(observation) }
        mix(observation)
        if let s = indexByName[observation.subject.name] {
            setView(observer: i, subject: s, uid: observation.subject.uid, status: observation.status)
        }
        changed = true
    }

    func mix(_ o: Observation) {
        func word(_ v: UInt64) {
            historyDigest = (historyDigest ^ v) &* 0x0000_0100_0000_01B3
            historyDigest ^= historyDigest >> 29
        }
        word(o.time.nanoseconds)
        word(UInt64(indexByName[o.observer.name] ?? 0xFFFF))
        word(o.observer.uid)
        word(UInt64(indexByName[o.subject.name] ?? 0xFFFF))
        word(o.subject.uid)
        word(UInt64(o.status.rawValue) | UInt64(o.previous.map { $0.rawValue + 1 } ?? 0) << 8
             | UInt64(o.incarnation) << 16)
    }

    /// Whether observer `o` sees subject `s` alive at its current uid while `s` runs.
    @inline(__always)
    func isGood(_ o: Int, _ s: Int) -> Bool {
        guard o != s, nodes[s].process == .running, s < nodes[o].view.count else { return false }
        let entry = nodes[o].view[s]
        return entry.status == .alive && entry.uid == nodes[s].id.uid
    }

    func entry(_ o: Int, _ s: Int) -> ViewEntry {
        s < nodes[o].view.count ? nodes[o].view[s] : ViewEntry()
    }

    func setView(observer o: Int, subject s: Int, uid: UInt64, status: MemberStatus) {
        let before = isGood(o, s)
        if nodes[o].view.count <= s {
            nodes[o].view.append(contentsOf: repeatElement(ViewEntry(), count: s + 1 - nodes[o].view.count))
        }
        nodes[o].view[s] = ViewEntry(uid: uid, status: status)
        let after = isGood(o, s)
        if after != before { nodes[o].goodCount += after ? 1 : -1 }
    }

    /// Applies a change to subject `s` (its uid or process) and keeps every
    /// observer's count of good subjects right.
    func changeSubject(_ s: Int, _ change: () -> Void) {
        let before = nodes.indices.map { isGood($0, s) }
        let wasUp = nodes[s].process == .running
        change()
        let isUp = nodes[s].process == .running
        if wasUp != isUp { upCount += isUp ? 1 : -1 }
        for o in nodes.indices {
            let after = isGood(o, s)
            if after != before[o] { nodes[o].goodCount += after ? 1 : -1 }
        }
        changed = true
    }

    // MARK: Views

    /// The status `observer` last reported for `subject` (whatever boot of it
    /// it knows), nil if it never heard of it. For a stopped observer, its
    /// view when it stopped.
    public func status(of subject: String, seenBy observer: String) -> MemberStatus? {
        entry(index(observer), index(subject)).status
    }

    /// The uid of the boot of `subject` that `observer` knows, nil if none.
    public func uid(of subject: String, seenBy observer: String) -> UInt64? {
        let e = entry(index(observer), index(subject))
        return e.status == nil ? nil : e.uid
    }

    /// Every member `observer` knows (itself included) and its status. A
    /// running or paused node's table; for a stopped one, its last view.
    public func view(of observer: String) -> [String: MemberStatus] {
        let o = index(observer)
        if let core = cores[o] {
            var view: [String: MemberStatus] = [:]
            for member in core.membership.members { view[member.id.name] = member.status }
            return view
        }
        var view: [String: MemberStatus] = [:]
        for (s, entry) in nodes[o].view.enumerated() {
            if let status = entry.status { view[nodes[s].name] = status }
        }
        return view
    }

    /// `view(of:)` as one sorted line, for messages: "n1 alive, n2 dead".
    public func describeView(of observer: String) -> String {
        view(of: observer).sorted { $0.key.compare(numerically: $1.key) }.map { "\($0.key) \($0.value)" }
            .joined(separator: ", ")
    }

    // MARK: Conditions

    /// Every running node sees every other running node alive, at its current uid.
    public var everyoneSeesEveryoneAlive: Bool {
        guard upCount > 0 else { return true }
        for node in nodes where node.process == .running && node.goodCount != upCount - 1 { return false }
        return true
    }

    /// Every running node other than `subject` sees `subject`'s latest boot as `status`.
    public func everyone(sees subject: String, as status: MemberStatus) -> Bool {
        let s = index(subject)
        let uid = nodes[s].id.uid
        for o in nodes.indices where o != s && nodes[o].process == .running {
            let e = entry(o, s)
            if e.status != status || e.uid != uid { return false }
        }
        return true
    }

    /// Whether any running node other than `subject` sees its latest boot as `status`.
    public func anyone(sees subject: String, as status: MemberStatus) -> Bool {
        let s = index(subject)
        let uid = nodes[s].id.uid
        for o in nodes.indices where o != s && nodes[o].process == .running {
            let e = entry(o, s)
            if e.status == status && e.uid == uid { return true }
        }
        return false
    }

    /// The cluster agrees with reality: every running node sees every
    /// running node alive at its current uid, and no running node sees a
    /// stopped (crashed, down or exited) node as alive or suspect. Paused
    /// nodes are ignored on both sides.
    public var isConverged: Bool { disagreements(limit: 1).isEmpty }

    /// Why the cluster has not converged, one line per disagreement.
    public func disagreements(limit: Int = 20) -> [String] {
        var problems: [String] = []
        for o in nodes.indices where nodes[o].process == .running {
            for s in nodes.indices where s != o {
                let e = entry(o, s)
                let subject = nodes[s]
                switch subject.process {
                case .running:
                    if e.status == .alive && e.uid == subject.id.uid { continue }
                    if let status = e.status {
                        let boot = e.uid == subject.id.uid ? "" : " (an old boot #\(String(e.uid, radix: 16)))"
                        problems.append("\(nodes[o].name) sees running \(subject.id) as \(status)\(boot)")
                    } else {
                        problems.append("\(nodes[o].name) has not heard of running \(subject.id)")
                    }
                case .paused:
                    continue
                case .crashed, .hostDown, .exited:
                    if let status = e.status, status.isActive {
                        problems.append("\(nodes[o].name) sees \(subject.process) \(subject.name)#\(String(e.uid, radix: 16)) as \(status)")
                    } else {
                        continue
                    }
                }
                if problems.count >= limit { return problems }
            }
        }
        return problems
    }

    // MARK: History

    /// Every observation about any boot of `subject`.
    public func observations(of subject: String) -> [Observation] {
        observations.filter { $0.subject.name == subject }
    }

    /// When `observer` (any boot) first saw `subject` (any boot) as
    /// `status`, at or after `since`.
    public func firstTime(_ observer: String, sees subject: String, as status: MemberStatus,
                          since: Instant = .zero) -> Instant? {
        observations.first {
            $0.time >= since && $0.status == status && $0.observer.name == observer && $0.subject.name == subject
        }?.time
    }

    /// How long after `since` each running node first saw the latest boot of
    /// `subject` as `status`; nil if some running node has not (yet).
    public func spread(of subject: String, as status: MemberStatus, since: Instant) -> TimeSpread? {
        let s = index(subject)
        let uid = nodes[s].id.uid
        var firsts: [Int: Instant] = [:]
        for o in observations where o.time >= since && o.status == status && o.subject.name == subject
            && o.subject.uid == uid {
            guard let i = indexByName[o.observer.name], nodes[i].id == o.observer, firsts[i] == nil else { continue }
            firsts[i] = o.time
        }
        var delays: [Duration] = []
        for o in nodes.indices where o != s && nodes[o].process == .running {
            guard let t = firsts[o] else { return nil }
            delays.append(t.since(since))
        }
        return TimeSpread(delays)
    }

    /// Whether any observer ever saw a boot of `subject` as `status` at or after `since`.
    public func ever(_ subject: String, seenAs status: MemberStatus, since: Instant = .zero) -> Bool {
        observations.contains { $0.time >= since && $0.status == status && $0.subject.name == subject }
    }

    /// The node's current table as the core reports it, checked against the
    /// simulator's mirror; lines describe mismatches (a simulator self-check).
    func mirrorMismatches() -> [String] {
        var problems: [String] = []
        for o in nodes.indices {
            guard let core = cores[o] else { continue }
            var good = 0
            for s in nodes.indices {
                let e = entry(o, s)
                let member = core.membership.member(named: nodes[s].name)
                if member?.status != e.status || (member != nil && member!.id.uid != e.uid) {
                    problems.append("\(nodes[o].name): table has \(nodes[s].name) \(member.map { "\($0.id) \($0.status)" } ?? "nil"), mirror \(e.status.map { "\(e.uid) \($0)" } ?? "nil")")
                }
                if isGood(o, s) { good += 1 }
            }
            if good != nodes[o].goodCount { problems.append("\(nodes[o].name): good count \(nodes[o].goodCount), recount \(good)") }
        }
        let up = nodes.filter { $0.process == .running }.count
        if up != upCount { problems.append("up count \(upCount), recount \(up)") }
        return problems
    }
}

/// First, median and last of a set of delays (e.g. how long each survivor
/// took to see a crash).
public struct TimeSpread: Hashable, Sendable, CustomStringConvertible {
    public var first: Duration
    public var median: Duration
    public var last: Duration
    public var count: Int

    public init?(_ delays: [Duration]) {
        guard !delays.isEmpty else { return nil }
        let sorted = delays.sorted()
        first = sorted[0]
        median = sorted[sorted.count / 2]
        last = sorted[sorted.count - 1]
        count = sorted.count
    }

    public var description: String {
        "first \(Simulation.format(first)), median \(Simulation.format(median)), last \(Simulation.format(last)) over \(count) nodes"
    }
}

extension String {
    /// "n2" < "n10": names compared by their numeric suffix when both have one.
    func compare(numerically other: String) -> Bool {
        func split(_ s: String) -> (String, Int?) {
            let digits = s.reversed().prefix { $0.isNumber }
            let prefix = String(s.dropLast(digits.count))
            return (prefix, Int(String(digits.reversed())))
        }
        let (a, m) = split(self), (b, n) = split(other)
        if a == b, let m, let n { return m < n }
        return self < other
    }
}
