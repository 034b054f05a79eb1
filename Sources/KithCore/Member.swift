/// Where a daemon listens for gossip, as `host:port`.
///
/// A plain string keeps the core free of socket types; the shell parses it.
public typealias Endpoint = String

/// One boot of one daemon: the name an operator gave it and a uid drawn at boot.
///
/// A daemon restarted under the same name gets a new uid, and the higher uid
/// wins, so a restart replaces the old record at once instead of stalling on a
/// name conflict. The shell draws uids as `bootMilliseconds << 20 | random`,
/// so later boots on the same host compare higher.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var name: String
    public var uid: UInt64

    public init(name: String, uid: UInt64) {
        self.name = name
        self.uid = uid
    }

    public static func < (a: NodeID, b: NodeID) -> Bool {
        (a.name, a.uid) < (b.name, b.uid)
    }

    public var description: String { "\(name)#\(String(uid, radix: 16))" }
}

/// What a member tells the cluster about itself, carried in every `alive`.
public struct NodeMeta: Hashable, Sendable {
    /// Gossip address (`--listen`).
    public var endpoint: Endpoint
    /// Control address (`--control`), where `kithctl` talks to this daemon.
    public var control: String
    /// HTTP address for metrics and the dashboard, empty when there is none.
    public var http: String
    /// How many agents this node will host; placement reads it.
    public var capacity: UInt32
    /// Free-form labels (`zone=a`), for operators and placement.
    public var tags: [String: String]
    /// The node's public key: what it says about itself (`NodeStatement`) is signed with it.
    public var key: [UInt8]
    /// The operator's certificate binding `key` to the node's name; empty in a cluster without certificates.
    public var certificate: [UInt8]

    public init(endpoint: Endpoint, control: String = "", http: String = "",
                capacity: UInt32 = 8, tags: [String: String] = [:], key: [UInt8] = [], certificate: [UInt8] = []) {
        self.endpoint = endpoint
        self.control = control
        self.http = http
        self.capacity = capacity
        self.tags = tags
        self.key = key
        self.certificate = certificate
    }
}

/// A member's state as this node believes it.
///
/// Legal transitions (SWIM 4.2, with Lifeguard's refutation):
/// - alive → suspect (failed probe or a suspect message at ≥ incarnation)
/// - suspect → alive (refutation: alive at a higher incarnation)
/// - suspect → dead (suspicion timeout, or a dead message)
/// - alive → dead (a dead message at ≥ incarnation)
/// - dead → alive (alive at a higher incarnation: the member was wrongly declared)
/// - any → left (the member said goodbye); left is final for that uid.
/// A new uid under the same name replaces the record whatever its state.
public enum MemberStatus: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case alive = 0, suspect = 1, dead = 2, left = 3

    public var description: String {
        switch self {
        case .alive: "alive"
        case .suspect: "suspect"
        case .dead: "dead"
        case .left: "left"
        }
    }

    /// Whether the member still counts as part of the cluster for probing and gossip.
    public var isActive: Bool { self == .alive || self == .suspect }

    /// Whether one boot may go from `self` to `next` (the list above; an
    /// unchanged status is a new incarnation or a new suspecter).
    public func canBecome(_ next: MemberStatus) -> Bool {
        switch (self, next) {
        case (.alive, _), (.suspect, _): true
        case (.dead, .alive), (.dead, .left): true
        case (.dead, _), (.left, _): false
        }
    }

    /// Fails loudly in debug builds, naming both states, on a transition the list forbids.
    func assertTransition(to next: MemberStatus, of id: NodeID) {
        assert(canBecome(next), "invalid transition [\(self) -> \(next)] of member \(id)")
    }
}

/// One row of the membership table.
public struct Member: Hashable, Sendable {
    public var id: NodeID
    public var meta: NodeMeta
    public var status: MemberStatus
    public var incarnation: UInt32
    /// When this node last saw the status change (local monotonic time).
    public var changedAt: Instant
    /// For a member that left, its own signature over `NodeStatement.left`,
    /// passed on unchanged so that every node can check the goodbye.
    public var leftSignature: [UInt8]

    public init(id: NodeID, meta: NodeMeta, status: MemberStatus, incarnation: UInt32, changedAt: Instant,
                leftSignature: [UInt8] = []) {
        self.id = id
        self.meta = meta
        self.status = status
        self.incarnation = incarnation
        self.changedAt = changedAt
        self.leftSignature = leftSignature
    }
}
