import KithCore

/// Injected network faults for chaos experiments: what this node does to
/// the gossip and agent traffic it sends to the named peers.
///
/// A partition is set on every node of both groups (each drops what it
/// would send across), a one-way cut only on the sending side; loss and
/// delay likewise. Every rule expires by itself, held here and not by the
/// coordinator, so a partition heals on time even if `kithctl` dies. The
/// control port is never filtered, so `heal` always gets through.
struct FaultFilter {
    enum Effect: Equatable {
        case drop
        /// Drop this share of frames (0...100).
        case loss(percent: Double)
        /// Hold each frame this long plus up to `jitterMs` more.
        case delay(ms: UInt64, jitterMs: UInt64)
    }

    struct Rule: Equatable {
        var peers: Set<String>
        var effect: Effect
        var untilMs: UInt64
    }

    /// What to do with one frame.
    enum Verdict: Equatable {
        case send
        case drop
        case delay(ms: UInt64)
    }

    private(set) var rules: [Rule] = []
    private(set) var framesFiltered: UInt64 = 0
    private(set) var framesDelayed: UInt64 = 0
    private var rng: SeededRandom

    /// The longest a fault may last: a forgotten fault must not outlive an experiment.
    static let maxDurationMs: UInt64 = 24 * 3600 * 1000

    init(randomSeed: UInt64) { rng = SeededRandom(seed: randomSeed) }

    mutating func add(_ effect: Effect, to peers: Set<String>, forMs duration: UInt64, nowMs: UInt64) {
        rules.append(Rule(peers: peers, effect: effect, untilMs: nowMs + min(duration, FaultFilter.maxDurationMs)))
    }

    mutating func heal() { rules = [] }

    /// The verdict for a frame to `peer` now; expired rules go first.
    mutating func verdict(to peer: String, nowMs: UInt64) -> Verdict {
        guard !rules.isEmpty else { return .send }
        rules.removeAll { $0.untilMs <= nowMs }
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
        return .delay(ms: delayMs)
    }

    /// Active rules for `status`: peer → what and for how much longer.
    func describe(nowMs: UInt64) -> [JSON] {
        rules.filter { $0.untilMs > nowMs }.map { rule in
            var json: [String: JSON] = ["peers": .array(rule.peers.sorted().map(JSON.string)),
                                        "remaining_ms": .int(Int64(rule.untilMs - nowMs))]
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
