import KithCore

/// Injected network faults for chaos experiments: what this node does to
/// the gossip and agent traffic it sends to the named peers.
///
/// A partition is set on every node of both groups (each drops what it
/// would send across), a one-way cut only on the sending side; loss and
/// delay likewise. Every rule expires by itself, held here and not by the
/// coordinator, so a partition heals on time even if `kithctl` dies. The
/// control port is never filtered, so `heal` always gets through. Which
/// rules are valid is the core's decision (`FaultRule.parse`).
struct FaultFilter {
    struct Rule: Equatable {
        var peers: Set<String>
        var effect: FaultEffect
        var until: Instant
    }

    /// What to do with one frame.
    enum Verdict: Equatable {
        case send
        case drop
        case delay(Duration)
    }

    private(set) var rules: [Rule] = []
    private(set) var framesFiltered: UInt64 = 0
    private(set) var framesDelayed: UInt64 = 0
    private var rng: SeededRandom

    /// The longest a fault may last: a forgotten fault must not outlive an experiment.
    static let durationMax: Duration = .seconds(24 * 3600)

    init(randomSeed: UInt64) { rng = SeededRandom(seed: randomSeed) }

    mutating func add(_ effect: FaultEffect, to peers: Set<String>, for duration: Duration, now: Instant) {
        rules.append(Rule(peers: peers, effect: effect, until: now + min(duration, FaultFilter.durationMax)))
    }

    mutating func heal() { rules = [] }

    /// The verdict for a frame to `peer` now; expired rules go first.
    mutating func verdict(to peer: String, now: Instant) -> Verdict {
        guard !rules.isEmpty else { return .send }
        rules.removeAll { $0.until <= now }
        var delayMs: UInt64 = 0
        for rule in rules where rule.peers.contains(peer) {
            switch rule.effect {
            case .drop:
                framesFiltered += 1
                return .drop
            case .loss(let percent):
                if Double(rng.next() % 10_000) < percent * 100 {
                    framesFiltered += 1
                    return .drop
                }
            case .delay(let ms, let jitterMs):
                delayMs += ms + (jitterMs > 0 ? rng.next() % (jitterMs + 1) : 0)
            }
        }
        guard delayMs > 0 else { return .send }
        framesDelayed += 1
        return .delay(.milliseconds(Int64(clamping: delayMs)))
    }

    /// Active rules for `status`: peer → what and for how much longer.
    func describe(now: Instant) -> [JSON] {
        rules.filter { $0.until > now }.map { rule in
            var json: [String: JSON] = ["peers": .array(rule.peers.sorted().map(JSON.string)),
                                        "remaining_ms": .int(rule.until.since(now).nanoseconds / 1_000_000)]
            switch rule.effect {
            case .drop: json["effect"] = "drop"
            case .loss(let percent): json["effect"] = "loss"; json["percent"] = .double(percent)
            case .delay(let ms, let jitter):
                json["effect"] = "delay"; json["ms"] = .int(Int64(ms)); json["jitter_ms"] = .int(Int64(jitter))
            }
            return .object(json)
        }
    }
}
