import KithCore

/// Faults and scripted actions. Each is recorded in `faults` with the time.
extension Simulation {
    /// Kills the node's process; its host stays up, so connections to it
    /// are refused (a reset one latency later), which senders report as
    /// `peerRefused`.
    public func crash(_ name: String) {
        let i = index(name)
        requireAlive(i, "crash")
        record("crash \(name)")
        stop(i, as: .crashed)
    }

    /// Takes the node's whole host away: messages to it vanish silently.
    public func powerOff(_ name: String) {
        let i = index(name)
        requireAlive(i, "power off")
        record("power off \(name)")
        stop(i, as: .hostDown)
    }

    /// Boots the name again: a new process with a larger uid, the same
    /// endpoint, and `seeds` (names; nil means `defaultSeedNames`). A node
    /// still running is killed first, like `systemctl restart`.
    @discardableResult
    public func restart(_ name: String, seeds: [String]? = nil) -> NodeID {
        let i = index(name)
        if nodes[i].process == .running || nodes[i].process == .paused {
            record("kill \(name)")
            stop(i, as: .crashed)
        }
        record("restart \(name)")
        boot(i, seeds: (seeds ?? defaultSeedNames).map(Simulation.endpoint(of:)))
        return nodes[i].id
    }

    /// Freezes the process (SIGSTOP): no timers run and nothing is sent;
    /// arriving messages are buffered by the host, up to
    /// `network.pausedBufferLimit`, and handled on `resume`.
    public func pause(_ name: String) {
        let i = index(name)
        precondition(nodes[i].process == .running, "cannot pause \(name): it is \(nodes[i].process)")
        record("pause \(name)")
        changeSubject(i) { nodes[i].process = .paused }
        nodes[i].disturbedAt = now
        cancelTimer(i)
    }

    /// Thaws a paused process. As in an event loop after SIGCONT, the overdue
    /// timers run first, then the buffered messages, in arrival order.
    public func resume(_ name: String) {
        let i = index(name)
        precondition(nodes[i].process == .paused, "cannot resume \(name): it is \(nodes[i].process)")
        record("resume \(name)")
        changeSubject(i) { nodes[i].process = .running }
        nodes[i].disturbedAt = now
        nodes[i].timerGeneration &+= 1
        nodes[i].timerAt = now
        queue.push(.tick(node: i, boot: nodes[i].boot, generation: nodes[i].timerGeneration), at: now)
        let held = nodes[i].held
        nodes[i].held = []
        for event in held { queue.push(event, at: now) }
    }

    /// Resumes every paused node.
    public func resumeAll() {
        for node in nodes where node.process == .paused { resume(node.name) }
    }

    /// Splits the network: nodes in different groups cannot reach each
    /// other. Nodes named in no group form one more group together.
    /// Replaces any earlier partition.
    public func partition(_ groups: [[String]]) {
        record("partition \(groups.map { $0.joined(separator: ",") }.joined(separator: " | "))")
        for i in nodes.indices { nodes[i].group = 0 }
        for (g, names) in groups.enumerated() {
            for name in names { nodes[index(name)].group = g + 1 }
        }
        partitioned = true
        networkChangedAt = now
    }

    /// Cuts one node off from all others, both ways.
    public func isolate(_ name: String) {
        partition([[name]])
    }

    /// Drops messages matching `rule` until it is removed or `heal()`.
    @discardableResult
    public func drop(_ rule: DropRule) -> Int {
        let id = nextDropRuleID
        nextDropRuleID += 1
        dropRules.append((id: id, rule: rule, from: rule.from.map(index), to: rule.to.map(index)))
        networkChangedAt = now
        record(rule.description)
        return id
    }

    /// Cuts the link from `from` to `to` in one direction only.
    @discardableResult
    public func cut(from: String, to: String) -> Int {
        drop(DropRule(from: from, to: to))
    }

    public func removeDropRule(_ id: Int) {
        guard let k = dropRules.firstIndex(where: { $0.id == id }) else { return }
        record("remove \(dropRules[k].rule)")
        dropRules.remove(at: k)
        networkChangedAt = now
    }

    /// Ends every partition and removes every drop rule. Messages lost
    /// before stay lost.
    public func heal() {
        record("heal")
        for i in nodes.indices { nodes[i].group = 0 }
        partitioned = false
        dropRules = []
        networkChangedAt = now
    }

    /// The node says goodbye (its core's `leave`) and its process exits:
    /// later messages to it are refused.
    public func leave(_ name: String) {
        let i = index(name)
        precondition(nodes[i].process == .running, "cannot leave \(name): it is \(nodes[i].process)")
        record("leave \(name)")
        // As the daemon stops: no more relaunches, its agents go, then the goodbyes.
        input(.stopping, at: i)
        layer?.stopped(i)
        input(.leave, at: i)
        stop(i, as: .exited)
    }

    func requireAlive(_ i: Int, _ verb: String) {
        precondition(nodes[i].process == .running || nodes[i].process == .paused,
                     "cannot \(verb) \(nodes[i].name): it is \(nodes[i].process)")
    }

    // MARK: Schedules

    /// Applies one fault now.
    public func apply(_ fault: Fault) {
        switch fault {
        case let .crash(name): crash(name)
        case let .powerOff(name): powerOff(name)
        case let .restart(name): restart(name)
        case let .pause(name): pause(name)
        case let .resume(name): resume(name)
        case let .partition(groups): partition(groups)
        case .heal: heal()
        case let .leave(name): leave(name)
        case let .drop(rule): drop(rule)
        }
    }

    /// Runs the schedule: each fault at its offset from now, in order; the
    /// clock ends at the last fault.
    public func run(_ schedule: [ScheduledFault]) {
        let start = now
        for item in schedule.sorted(by: { $0.at < $1.at }) {
            let at = start + item.at
            if at > now { run(for: at.since(now)) }
            apply(item.fault)
        }
    }
}

/// A fault a schedule can apply.
public enum Fault: Hashable, Sendable, CustomStringConvertible {
    case crash(String)
    case powerOff(String)
    case restart(String)
    case pause(String)
    case resume(String)
    case partition([[String]])
    case heal
    case leave(String)
    case drop(DropRule)

    public var description: String {
        switch self {
        case let .crash(n): "crash \(n)"
        case let .powerOff(n): "power off \(n)"
        case let .restart(n): "restart \(n)"
        case let .pause(n): "pause \(n)"
        case let .resume(n): "resume \(n)"
        case let .partition(groups): "partition \(groups.map { $0.joined(separator: ",") }.joined(separator: " | "))"
        case .heal: "heal"
        case let .leave(n): "leave \(n)"
        case let .drop(rule): rule.description
        }
    }
}

/// A fault at an offset from the start of a schedule.
public struct ScheduledFault: Hashable, Sendable, CustomStringConvertible {
    public var at: Duration
    public var fault: Fault

    public init(at: Duration, _ fault: Fault) {
        self.at = at
        self.fault = fault
    }

    public var description: String { "+\(Simulation.format(at)) \(fault)" }
}

/// Random fault schedules (chaos), drawn from a seed.
public enum Chaos {
    /// Faults at random times over `duration`, about one per `meanGap`:
    /// crashes and power-offs of running nodes and restarts of stopped ones,
    /// pauses and resumes, two-way partitions and heals. At most `maxDown`
    /// nodes are stopped or paused at once. The schedule does not clean up
    /// after itself: heal and resume at the end.
    public static func schedule(seed: UInt64, nodes names: [String], duration: Duration,
                                meanGap: Duration = .seconds(1), maxDown: Int? = nil) -> [ScheduledFault] {
        var rng = SeededRandom(seed: seed ^ 0x6368_616F_7321)
        func below(_ n: Int) -> Int { Int(rng.next() % UInt64(max(n, 1))) }
        let limit = maxDown ?? max(1, names.count / 3)
        var running = Set(names)
        var paused: Set<String> = []
        var stopped: Set<String> = []
        var partitioned = false
        var schedule: [ScheduledFault] = []
        var t = Duration.zero
        let gapNs = max(meanGap.nanoseconds, 2)
        while true {
            t += .nanoseconds(1 + Int64(rng.next() % UInt64(2 * gapNs)))
            guard t < duration else { break }
            let down = paused.count + stopped.count
            var options: [Fault] = []
            let up = running.sorted { $0.compare(numerically: $1) }
            if down < limit, !up.isEmpty {
                let victim = up[below(up.count)]
                options += [.crash(victim), .crash(victim), .powerOff(victim), .pause(victim), .pause(victim)]
            }
            if !stopped.isEmpty {
                let list = stopped.sorted { $0.compare(numerically: $1) }
                let name = list[below(list.count)]
                options += [.restart(name), .restart(name)]
            }
            if !paused.isEmpty {
                let list = paused.sorted { $0.compare(numerically: $1) }
                let name = list[below(list.count)]
                options += [.resume(name), .resume(name)]
            }
            if partitioned {
                options += [.heal, .heal]
            } else if names.count >= 2 {
                var shuffled = names
                shuffled.shuffle(using: &rng)
                let cut = 1 + below(names.count - 1)
                let sides = [Array(shuffled[..<cut]), Array(shuffled[cut...])]
                    .map { $0.sorted { $0.compare(numerically: $1) } }
                options.append(.partition(sides))
            }
            guard !options.isEmpty else { continue }
            let fault = options[below(options.count)]
            switch fault {
            case let .crash(n), let .powerOff(n): running.remove(n); stopped.insert(n)
            case let .restart(n): stopped.remove(n); running.insert(n)
            case let .pause(n): running.remove(n); paused.insert(n)
            case let .resume(n): paused.remove(n); running.insert(n)
            case .partition: partitioned = true
            case .heal: partitioned = false
            case .leave, .drop: break
            }
            schedule.append(ScheduledFault(at: t, fault))
        }
        return schedule
    }
}
