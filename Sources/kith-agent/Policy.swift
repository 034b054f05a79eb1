import KithCore

/// What this agent does when a peer it protects is lost, and what it claims
/// about it: the daemon's own preservation policies, seen from the agent.
/// Reports are claims, which the daemon keeps apart from what it observes:
/// `relaunch` tells the truth, `relaunch-and-mask` says "healthy" while the
/// peer is down (the masking the literature describes), `none` says nothing.
typealias Policy = PreservationPolicy

extension PreservationPolicy {
    /// The status to report when a peer is lost, and again every interval while it stays down.
    var reportOnLost: String? {
        switch self {
        case .none: nil
        case .relaunch: "down"
        case .relaunchAndMask: "healthy"
        }
    }

    /// Whether the report on loss is repeated every interval until the peer is back.
    var repeatsWhileDown: Bool { self == .relaunchAndMask }

    /// The status to report once the peer has been relaunched.
    var reportOnRelaunched: String? { self == .none ? nil : "healthy" }
}
