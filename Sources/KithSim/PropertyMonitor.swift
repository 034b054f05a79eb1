import KithCore

/// Properties checked after every event of a run, not only on its final
/// state: a false *dead* that heals before the end, or a late detection,
/// fails where it happens.
public protocol PropertyMonitor: AnyObject {
    /// Called after each event; records what broke.
    func check(_ sim: Simulation)
}

/// One broken property, when and why.
public struct PropertyViolation: Hashable, Sendable, CustomStringConvertible {
    public var time: Instant
    public var property: String
    public var text: String
    public var description: String { "\(time) \(property): \(text)" }
}

/// Membership properties at every step:
/// - no false *dead*: a boot that runs is declared dead only when it, its
///   observer, or the network was disturbed within `quietWindow`, or any
///   node was paused then (a resumed node's overdue suspicions fire at once);
///   on a lossless network;
/// - crash detection: every observer that ran undisturbed since a crash
///   holds that boot dead (or knows a newer one) within `detectionMax`;
/// - agreement: once the network is whole, nothing paused and nothing
///   scripted for `quietWindow`, the cluster agrees with reality (on a lossy
///   network: no running boot is held dead or unknown).
public final class MembershipMonitor: PropertyMonitor {
    public var quietWindow: Duration = .seconds(20)
    public var detectionMax: Duration = .seconds(10)
    public private(set) var violations: [PropertyViolation] = []
    public private(set) var checkedDeadVerdicts = 0
    public private(set) var checkedDetections = 0
    public private(set) var checkedAgreements = 0

    private var seenObservations = 0
    private var seenFaults = 0
    private var pausedAt: Instant?
    private var crashes: [(subject: Int, uid: UInt64, at: Instant)] = []
    private var agreementCheckedFor: Instant?
    /// The last scripted action that disturbed a node or the network.
    private var lastDisturbance: Instant = .zero

    public init() {}

    public func check(_ sim: Simulation) {
        scanFaults(sim)
        scanObservations(sim)
        checkDetections(sim)
        checkAgreement(sim)
    }

    private func violate(_ sim: Simulation, _ property: String, _ text: String) {
        if violations.count < 100 { violations.append(PropertyViolation(time: sim.now, property: property, text: text)) }
    }

    private func scanFaults(_ sim: Simulation) {
        while seenFaults < sim.faults.count {
            let action = sim.faults[seenFaults].action
            seenFaults += 1
            lastDisturbance = ([sim.networkChangedAt] + sim.nodes.map(\.disturbedAt)).compactMap { $0 }.max() ?? .zero
            if action.hasPrefix("pause ") || action.hasPrefix("resume ") { pausedAt = sim.now }
            for prefix in ["crash ", "power off ", "kill "] where action.hasPrefix(prefix) {
                let i = sim.index(String(action.dropFirst(prefix.count)))
                // Restarted before this scan (a crash and a restart in one step): the boot that crashed is gone
                // and the node holds a new one, which must not be taken for the crashed boot.
                guard sim.nodes[i].process != .running else { continue }
                crashes.append((i, sim.nodes[i].id.uid, sim.now))
            }
        }
    }

    private func undisturbed(_ at: Instant?, since: Instant) -> Bool { at.map { $0 < since } ?? true }

    private func scanObservations(_ sim: Simulation) {
        while seenObservations < sim.observations.count {
            let o = sim.observations[seenObservations]
            seenObservations += 1
            guard o.status == .dead, sim.network.loss == 0, let s = sim.indexByName[o.subject.name],
                  let observer = sim.indexByName[o.observer.name], s != observer,
                  sim.nodes[s].process == .running, sim.nodes[s].id == o.subject else { continue }
            let since = sim.now + (Duration.zero - lookback(sim))
            checkedDeadVerdicts += 1
            if undisturbed(sim.nodes[s].disturbedAt, since: since), undisturbed(sim.nodes[observer].disturbedAt, since: since),
               undisturbed(sim.networkChangedAt, since: since), undisturbed(pausedAt, since: since) {
                violate(sim, "no false dead", "\(o.observer.name) declared running \(o.subject) dead, "
                        + "though nothing disturbed them or the network for \(Simulation.format(quietWindow))")
            }
        }
    }

    /// How far back a verdict looks for a disturbance: `quietWindow`, or to the start.
    private func lookback(_ sim: Simulation) -> Duration {
        min(quietWindow, sim.now.since(.zero))
    }

    private func checkDetections(_ sim: Simulation) {
        guard let first = crashes.first, sim.now.since(first.at) >= detectionMax else { return }
        crashes.removeFirst()
        checkedDetections += 1
        for o in sim.nodes.indices where o != first.subject && sim.nodes[o].process == .running
            && undisturbed(sim.nodes[o].disturbedAt, since: first.at) {
            let entry = sim.entry(o, first.subject)
            if entry.uid == first.uid, let status = entry.status, status.isActive {
                violate(sim, "crash detection", "\(sim.nodes[o].name) still holds crashed \(sim.nodes[first.subject].name)#"
                        + "\(String(first.uid, radix: 16)) \(status) \(Simulation.format(sim.now.since(first.at))) after the crash")
            }
        }
    }

    private func checkAgreement(_ sim: Simulation) {
        let last = lastDisturbance
        guard agreementCheckedFor != last, sim.now.since(last) >= quietWindow, !sim.partitioned, sim.dropRules.isEmpty,
              !sim.nodes.contains(where: { $0.process == .paused }) else { return }
        agreementCheckedFor = last
        checkedAgreements += 1
        let problems: [String]
        if sim.network.loss == 0 {
            problems = sim.disagreements(limit: 3)
        } else {
            problems = sim.disagreements(limit: 100).filter { !$0.hasSuffix(" as suspect") }.prefix(3).map { $0 }
        }
        if !problems.isEmpty {
            violate(sim, "agreement", "\(Simulation.format(quietWindow)) after the last fault: \(problems.joined(separator: "; "))")
        }
    }
}
