import Glibc

/// The daemon's open-files limit. Gossip alone may hold `GossipTransport.inboundConnectionsMax` inbound
/// connections plus one or two outbound per peer, which is past the common soft limit of 1,024; kithd
/// raises its soft limit to the hard one at start (as the systemd unit's `LimitNOFILE` does), so the
/// connection caps shed load before descriptors run out. Agents get their own limit from the supervisor.
public enum OpenFiles {
    /// Raises the soft limit to the hard limit; returns the soft limit in force afterwards (nil if unknown).
    @discardableResult
    public static func raiseSoftLimit() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }
}
