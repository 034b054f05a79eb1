import KithCore

/// What became of every agent message in a simulation, by the sender's
/// request id: when its daemon accepted it, which receiver copies got it,
/// whether its sender heard `send_failed`. The delivery guarantee as
/// properties: each copy gets a message at most once, and one sender's
/// messages in the order they were sent; every accepted message is in the
/// end delivered or failed.
public struct MessageLedger: Sendable {
    public struct Copy: Hashable, Sendable {
        public var agent: String
        public var generation: UInt64
        public var pid: Int32
    }

    /// Message number → when its `send` was answered ok, and on which node.
    public private(set) var accepted: [Int: (time: Instant, node: Int)] = [:]
    /// Message number → the receiver copies that got it, in order.
    public private(set) var delivered: [Int: [Copy]] = [:]
    public private(set) var failed: Set<Int> = []
    /// Accepted by a daemon that then crashed or rebooted before settling them: gone with their sender.
    public private(set) var goneWithSender: Set<Int> = []
    /// The newest message number each copy got from each sender.
    private var newest: [Copy: [String: Int]] = [:]

    public init() {}

    mutating func accept(_ n: Int, at time: Instant, on node: Int) { accepted[n] = (time, node) }

    /// Node `node` went down: what it accepted and did not settle went with it.
    mutating func senderDown(_ node: Int) {
        for (n, entry) in accepted where entry.node == node && delivered[n] == nil && !failed.contains(n) {
            goneWithSender.insert(n)
        }
    }

    /// Records a delivery; returns the broken property, if any.
    mutating func deliver(_ n: Int, from sender: String, to copy: Copy) -> String? {
        defer { delivered[n, default: []].append(copy) }
        if delivered[n]?.contains(copy) == true { return "message \(n) from \(sender) reached \(copy.agent) gen \(copy.generation) twice" }
        let last = newest[copy, default: [:]][sender]
        newest[copy, default: [:]][sender] = max(last ?? n, n)
        if let last, n < last {
            return "\(copy.agent) gen \(copy.generation) got message \(n) from \(sender) after \(last)"
        }
        return nil
    }

    mutating func fail(_ n: Int) { failed.insert(n) }

    /// Accepted by `cutoff` (so given up on, if at all, by now) yet neither delivered nor failed.
    public func lost(acceptedBy cutoff: Instant) -> [Int] {
        accepted.filter { $0.value.time <= cutoff && delivered[$0.key] == nil && !failed.contains($0.key) && !goneWithSender.contains($0.key) }
            .map(\.key).sorted()
    }

    /// Delivered to some copy and failed too (an acknowledgement lost, then the sender gave up).
    public var deliveredAndFailed: [Int] { failed.filter { delivered[$0] != nil }.sorted() }
}
