import Foundation
import KithCore
import KithReport

/// A soak's random faults, drawn from a seed: the same seed, names and
/// duration give the same steps. Pure. Every fault is undone within the
/// schedule (a killed or stopped node started again, a switched-off agent
/// revived, network faults and pauses expire), at most a minority of the
/// nodes is down or paused at once (the cluster keeps a majority to decide
/// with), and the schedule ends `tailMs` before the soak does, so the
/// cluster can settle before the checker reads its history.
package struct SoakSchedule {
    package struct Settings {
        /// Mean time between two faults (exponential gaps, at least `gapMsMin`).
        package var meanGapMs = 3000
        package var gapMsMin = 300
        /// Quiet time at the end: longer than the checker's relaunch bound, so every loss is judged.
        package var tailMs = 20_000
        /// How long a node stays down before it is started again, and how long network faults and pauses last.
        package var downMs = 2000...8000
        package var faultMs = 1000...8000
        /// A pause that outlasts the suspicion timeout (the node is declared dead while frozen), now and then.
        package var pauseMs = 500...6000
        package var switchedOffMs = 2000...6000

        package init() {}
    }

    /// The kinds of fault, with their weights in the draw.
    package enum Kind: String, CaseIterable {
        case killNode = "kill node", restartNode = "restart node", pauseNode = "pause node"
        case partition = "partition", onewayPartition = "one-way partition", loss, delay
        case killAgent = "kill agent", killSwitch = "kill-switch"

        var weight: UInt64 {
            switch self {
            case .killNode, .pauseNode, .partition, .killAgent: 3
            case .restartNode, .onewayPartition, .loss, .delay, .killSwitch: 2
            }
        }
    }

    package let steps: [ResolvedStep]
    /// The faults drawn (a kill and its restart, or a switch and its revive, are one fault).
    package let faults: Int

    package init(seed: UInt64, nodes: [String], agents: [String], durationMs: Int, settings: Settings = Settings()) {
        precondition(!nodes.isEmpty && durationMs > 0, "a soak needs nodes and a duration")
        var rng = SeededRandom(seed: seed)
        var steps: [TimelineStep] = []
        var faults = 0
        /// Node → ms until which it is down or paused; agent → ms until which it is switched off.
        var busyNodes: [String: Int] = [:]
        var switchedOff: [String: Int] = [:]
        let lastMs = durationMs - settings.tailMs
        let minority = (nodes.count - 1) / 2

        func draw(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(rng.next() % UInt64(range.count)) }
        func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }
        func add(_ at: Int, _ action: TimelineAction, target: String? = nil, targets: [String] = [], groups: [[String]] = [],
                 forMs: Int? = nil, oneway: Bool = false, delayMs: Int? = nil, jitterMs: Int? = nil, percent: Int? = nil) {
            steps.append(TimelineStep(index: 0, atMs: at, action: action, target: target, targets: targets, groups: groups,
                                      forMs: forMs, oneway: oneway, delayMs: delayMs, jitterMs: jitterMs, percent: percent,
                                      reason: action == .killSwitch ? "soak" : nil))
        }

        var at = 0
        while true {
            // Exponential gaps: -mean * ln(U), U in (0, 1].
            let uniform = Double(rng.next() >> 11 + 1) / Double(1 << 53)
            at += max(settings.gapMsMin, Int(-Double(settings.meanGapMs) * log(uniform)))
            guard at < lastMs else { break }
            let free = nodes.filter { (busyNodes[$0] ?? 0) <= at }
            let busy = nodes.count - free.count
            let liveAgents = agents.filter { (switchedOff[$0] ?? 0) <= at }
            var kinds = Kind.allCases
            if busy >= minority { kinds.removeAll { [.killNode, .restartNode, .pauseNode].contains($0) } }
            if free.count < 2 { kinds.removeAll { [.partition, .onewayPartition, .loss, .delay].contains($0) } }
            if liveAgents.isEmpty { kinds.removeAll { [.killAgent, .killSwitch].contains($0) } }
            guard !kinds.isEmpty else { continue }
            var ticket = rng.next() % kinds.reduce(0) { $0 + $1.weight }
            let kind = kinds.first { kind in
                if ticket < kind.weight { return true }
                ticket -= kind.weight
                return false
            }!
            // A fault must be over before the tail starts.
            let room = lastMs - at
            switch kind {
            case .killNode, .restartNode:
                let node = pick(free)
                let down = min(draw(settings.downMs), room - 1000)
                guard down > 0 else { continue }
                add(at, kind == .killNode ? .killNode : .shutdownNode, target: node)
                add(at + down, .startNode, target: node)
                busyNodes[node] = at + down + 2000  // back, then a moment to rejoin
            case .pauseNode:
                let node = pick(free)
                let pause = min(draw(settings.pauseMs), room)
                add(at, .pauseNode, target: node, forMs: pause)
                busyNodes[node] = at + pause + 1000
            case .partition, .onewayPartition, .loss, .delay:
                let shuffled = free.shuffled(using: &rng)
                let cut = 1 + Int(rng.next() % UInt64(shuffled.count - 1))
                let groups = [Array(shuffled[..<cut]).sorted(by: NodeNames.order), Array(shuffled[cut...]).sorted(by: NodeNames.order)]
                let length = min(draw(settings.faultMs), room)
                switch kind {
                case .loss: add(at, .loss, groups: groups, forMs: length, percent: draw(10...60))
                case .delay: add(at, .delay, groups: groups, forMs: length, delayMs: draw(20...300), jitterMs: draw(0...50))
                default: add(at, .partition, groups: groups, forMs: length, oneway: kind == .onewayPartition)
                }
            case .killAgent:
                add(at, .killAgent, target: pick(liveAgents))
            case .killSwitch:
                let agent = pick(liveAgents)
                let off = min(draw(settings.switchedOffMs), room)
                add(at, .killSwitch, targets: [agent])
                add(at + off, .revive, targets: [agent])
                switchedOff[agent] = at + off + 1000
            }
            faults += 1
        }
        // Undo steps were added at their own times: run everything in time order, numbered in that order.
        let ordered = steps.enumerated().sorted { ($0.element.atMs, $0.offset) < ($1.element.atMs, $1.offset) }.map(\.element)
        self.steps = ordered.enumerated().map { index, step in
            var step = step
            step.index = index
            return ResolvedStep(step: step, target: step.target, targets: step.targets, groups: step.groups, drawn: [])
        }
        self.faults = faults
    }
}
