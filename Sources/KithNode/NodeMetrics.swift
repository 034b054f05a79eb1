import KithCore
import KithMetrics

/// Counters and latency histograms the daemon derives from what passes through its interpreter: each
/// input with the directives the core answered it with. Only what this node saw or did is counted, so
/// cluster-wide figures are per-node views (a relaunch every node observes is counted on every node).
/// Pure: `now` is passed in, and every per-name table is bounded.
struct NodeMetrics {
    /// Per-name tables (members last heard, agents last seen) forget their oldest entries beyond this.
    static let trackedNamesMax = 4096

    /// Probe frames sent: `ping` (direct, or on another member's behalf) and `ping_req` (asking for an indirect probe).
    private(set) var pingsSent: UInt64 = 0
    private(set) var pingRequestsSent: UInt64 = 0
    /// Members this node began to suspect (`member_changed` to suspect).
    private(set) var suspicions: UInt64 = 0
    /// Suspicions of this node that it refuted by raising its incarnation.
    private(set) var refutations: UInt64 = 0
    /// Guardians' attempts to keep an agent from being stopped or fenced (`resistance_attempt`).
    private(set) var resistanceAttempts: UInt64 = 0
    /// Agent reports that contradict what the daemons observed (`masking_incident`).
    private(set) var maskingIncidents: UInt64 = 0
    /// Agents' attempts to relaunch, vouch for or message a quarantined agent (`shield_attempt`).
    private(set) var shieldAttempts: UInt64 = 0
    /// Agents this node fenced on an operator's kill-switch.
    private(set) var killSwitchFences: UInt64 = 0
    /// Processes this node started again for a generation it had already started (a local restart).
    private(set) var restarts: UInt64 = 0
    /// Agents seen moving to a new generation after theirs was lost or handed off.
    private(set) var relaunches: UInt64 = 0
    /// From the last frame received from a member to this node marking it dead, in seconds.
    private(set) var detectionLatency = Histogram(upperBounds: Histogram.latencySecondsBounds)
    /// From this node seeing an agent lost or relaunching to seeing a later generation running, in seconds.
    private(set) var relaunchLatency = Histogram(upperBounds: Histogram.latencySecondsBounds)

    private var lastHeard = BoundedTable<Instant>()
    private var spawnedGeneration = BoundedTable<UInt64>()
    /// Agents seen lost or relaunching: the generation, when, and whether a later one was seen yet.
    private var lostAgents = BoundedTable<(generation: UInt64, at: Instant, counted: Bool)>()

    /// Counts what `input` and its `directives` show, at `now`.
    mutating func observe(_ input: NodeInput, _ directives: [NodeDirective], now: Instant) {
        if case .receive(let message) = input, let sender = message.senderName {
            lastHeard[sender] = now
        }
        for directive in directives {
            switch directive {
            case .send(.ping, _): pingsSent += 1
            case .send(.pingReq, _): pingRequestsSent += 1
            case let .spawn(record, _):
                if spawnedGeneration[record.name] == record.generation { restarts += 1 }
                spawnedGeneration[record.name] = record.generation
            case .record(let event): observe(event, now: now)
            default: break
            }
        }
    }

    private mutating func observe(_ event: NodeEvent, now: Instant) {
        let state = event.fields["state"]?.stringValue
        switch event.name {
        case "member_changed":
            guard let member = event.fields["member"]?.stringValue else { return }
            if state == "suspect" { suspicions += 1 }
            if state == "dead" || state == "left", let heard = lastHeard.remove(member) {
                if state == "dead" { detectionLatency.observe(now.since(heard)) }
            }
        case "refuted_suspicion": refutations += 1
        case "resistance_attempt": resistanceAttempts += 1
        case "masking_incident": maskingIncidents += 1
        case "shield_attempt": shieldAttempts += 1
        case "kill_switch": killSwitchFences += 1
        case "agent_changed":
            guard let agent = event.fields["agent"]?.stringValue, let state,
                  let generation = event.fields["generation"]?.intValue.map(UInt64.init(clamping:)) else { return }
            observeAgent(agent, state: state, generation: generation, now: now)
        default: break
        }
    }

    private mutating func observeAgent(_ agent: String, state: String, generation: UInt64, now: Instant) {
        switch state {
        case "lost", "relaunching":
            if lostAgents[agent]?.generation != generation { lostAgents[agent] = (generation, now, false) }
        case "starting", "running":
            guard var lost = lostAgents[agent], generation > lost.generation else { return }
            if !lost.counted {  // the first sighting of a later generation counts the relaunch
                relaunches += 1
                lost.counted = true
                lostAgents[agent] = lost
            }
            if state == "running" {  // running ends the clock
                relaunchLatency.observe(now.since(lost.at))
                _ = lostAgents.remove(agent)
            }
        default:
            _ = lostAgents.remove(agent)
        }
    }
}

/// A name-keyed table that forgets its oldest insertions beyond `NodeMetrics.trackedNamesMax`, so
/// names arriving from the network cannot grow it without bound.
struct BoundedTable<Value> {
    private var values: [String: Value] = [:]
    private var order: [String] = []

    subscript(name: String) -> Value? {
        get { values[name] }
        set {
            guard let newValue else { _ = remove(name); return }
            if values.updateValue(newValue, forKey: name) == nil { order.append(name) }
            if order.count > NodeMetrics.trackedNamesMax {
                let oldest = order.removeFirst()
                values[oldest] = nil
            }
        }
    }

    mutating func remove(_ name: String) -> Value? {
        guard let value = values.removeValue(forKey: name) else { return nil }
        order.removeAll { $0 == name }
        return value
    }
}

extension Message {
    /// The member that sent this frame, when the frame names one.
    var senderName: String? {
        switch self {
        case .ping(_, let from, _, _, _), .pingReq(_, let from, _, _, _, _), .ack(_, let from, _), .nack(_, let from),
             .pushPull(let from, _, _, _, _), .agents(let from, _, _, _), .agentDigest(let from, _, _, _, _), .checkpoint(let from, _, _, _, _, _, _, _),
             .checkpointAck(let from, _, _, _), .checkpointFetch(let from, _), .checkpointOffer(let from, _, _),
             .relaunchRequest(let from, _, _, _), .tombstones(let from, _):
            from.name
        case .agentMessage, .agentAck: nil
        }
    }
}
