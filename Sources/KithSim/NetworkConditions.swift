import KithCore

/// How the simulated network treats every message.
///
/// Each message takes `latency` plus a uniform extra delay in `0...jitter`
/// (so messages may overtake each other), and is lost with probability
/// `loss`. Both are drawn from the simulation's seeded generator. Loss and
/// drop rules are decided when a message is sent; the destination's state
/// (running, paused, crashed, host down) when it arrives.
public struct NetworkConditions: Hashable, Sendable {
    /// The smallest one-way delay.
    public var latency: Duration
    /// The largest extra delay on top of `latency`, drawn uniformly.
    public var jitter: Duration
    /// Probability in `0...1` that a message vanishes.
    public var loss: Double
    /// How many messages (and refusals) a paused node's kernel buffers
    /// before it drops the rest, like full socket buffers.
    public var pausedBufferLimit: Int

    public init(latency: Duration = .microseconds(500), jitter: Duration = .zero, loss: Double = 0,
                pausedBufferLimit: Int = 4096) {
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
        self.pausedBufferLimit = pausedBufferLimit
    }

    /// A quiet LAN: 0.5 ms, no jitter, no loss.
    public static let lan = NetworkConditions()

    /// A congested network: `latency` + up to `jitter`, with `loss`.
    public static func lossy(_ loss: Double, latency: Duration = .milliseconds(1),
                             jitter: Duration = .milliseconds(4)) -> NetworkConditions {
        NetworkConditions(latency: latency, jitter: jitter, loss: loss)
    }
}

/// The kinds of gossip-port message, for counters and drop rules: the
/// membership protocol's five, and `other` for everything else on the port.
public enum MessageKind: Int, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case ping, pingReq, ack, nack, pushPull, other

    public init(_ message: Message) {
        switch message {
        case .ping: self = .ping
        case .pingReq: self = .pingReq
        case .ack: self = .ack
        case .nack: self = .nack
        case .pushPull: self = .pushPull
        default: self = .other
        }
    }

    public var description: String {
        switch self {
        case .ping: "ping"
        case .pingReq: "ping-req"
        case .ack: "ack"
        case .nack: "nack"
        case .pushPull: "push-pull"
        case .other: "other"
        }
    }
}

/// Drops matching messages silently, like a firewall rule. A nil field
/// matches anything: `DropRule(from: "n3", kinds: [.ack])` drops every ack
/// n3 sends; `DropRule(from: "n1", to: "n2")` cuts one direction of a link.
public struct DropRule: Hashable, Sendable, CustomStringConvertible {
    public var from: String?
    public var to: String?
    /// Kinds to drop; nil drops every kind.
    public var kinds: Set<MessageKind>?

    public init(from: String? = nil, to: String? = nil, kinds: Set<MessageKind>? = nil) {
        self.from = from
        self.to = to
        self.kinds = kinds
    }

    public var description: String {
        let what = kinds.map { $0.sorted { $0.rawValue < $1.rawValue }.map(\.description).joined(separator: ",") } ?? "all"
        return "drop \(what) \(from ?? "*")->\(to ?? "*")"
    }
}

/// Counters of what the network did.
public struct MessageStats: Hashable, Sendable, CustomStringConvertible {
    /// Messages the nodes asked to send.
    public var sent = 0
    /// Messages handed to a running node (including held ones, once resumed).
    public var delivered = 0
    /// Lost to `NetworkConditions.loss`.
    public var lost = 0
    /// Dropped by a partition or a drop rule.
    public var blocked = 0
    /// Arrived where no process listens (crashed or left): answered with a refusal.
    public var refused = 0
    /// Arrived at a host that is down: dropped silently.
    public var hostDown = 0
    /// Held in a paused node's buffers.
    public var held = 0
    /// Dropped because a paused node's buffers were full.
    public var overflowed = 0
    /// Sent to an endpoint no simulated node has.
    public var unroutable = 0
    /// Encoded bytes sent (every message goes through `WireCodec`).
    public var bytes = 0
    /// Messages sent, by kind (indexed by `MessageKind.rawValue`).
    public var sentByKind = [Int](repeating: 0, count: MessageKind.allCases.count)

    public init() {}

    public func sent(_ kind: MessageKind) -> Int { sentByKind[kind.rawValue] }

    public var description: String {
        let kinds = MessageKind.allCases.map { "\($0) \(sentByKind[$0.rawValue])" }.joined(separator: ", ")
        var text = "\(sent) messages sent (\(kinds)), \(delivered) delivered, \(lost) lost, \(blocked) blocked, "
            + "\(refused) refused, \(hostDown) to down hosts, \(held) held, \(overflowed) overflowed"
        if bytes > 0 { text += ", \(bytes) bytes" }
        return text
    }
}
