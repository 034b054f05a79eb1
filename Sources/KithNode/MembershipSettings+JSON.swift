import KithCore

/// The `membership` object of a config file: every `MembershipSettings`
/// field under a snake_case key, durations in milliseconds.
extension MembershipSettings {
    mutating func apply(json: JSON) throws(ConfigError) {
        guard let object = json.objectValue else { throw ConfigError("membership must be an object") }
        if let preset = object["preset"] {
            switch preset.stringValue {
            case "lan": self = .lan
            case "wan": self = .wan
            default: throw ConfigError("membership.preset must be \"lan\" or \"wan\"")
            }
        }
        for (key, value) in object.sorted(by: { $0.key < $1.key }) where key != "preset" {
            func ms() throws(ConfigError) -> Duration {
                guard let n = value.intValue, n > 0, n <= 86_400_000 else {
                    throw ConfigError("membership.\(key) must be a positive number of milliseconds")
                }
                return .milliseconds(n)
            }
            func int() throws(ConfigError) -> Int {
                guard let n = value.intValue, n >= 0, n <= 1_000 else {
                    throw ConfigError("membership.\(key) must be an integer 0...1000")
                }
                return Int(n)
            }
            func count() throws(ConfigError) -> Int {
                guard let n = value.intValue, n >= 1, n <= 1_000_000 else {
                    throw ConfigError("membership.\(key) must be an integer 1...1000000")
                }
                return Int(n)
            }
            func number() throws(ConfigError) -> Double {
                guard let n = value.doubleValue, n.isFinite else { throw ConfigError("membership.\(key) must be a number") }
                return n
            }
            switch key {
            case "probe_interval_ms": probeInterval = try ms()
            case "probe_timeout_ms": probeTimeout = try ms()
            case "indirect_probes": indirectProbes = try int()
            case "retransmit_multiplier": retransmitMultiplier = try int()
            case "max_piggyback": maxPiggyback = try int()
            case "suspicion_multiplier": suspicionMultiplier = try number()
            case "suspicion_max_multiplier": suspicionMaxMultiplier = try number()
            case "refused_suspicion_ms": refusedSuspicionTimeout = try ms()
            case "push_pull_interval_ms": pushPullInterval = try ms()
            case "join_retry_ms": joinRetryInterval = try ms()
            case "join_sync_window_ms": joinSyncWindow = try ms()
            case "join_sync_interval_ms": joinSyncInterval = try ms()
            case "reconnect_interval_ms": reconnectInterval = try ms()
            case "dead_retention_ms": deadRetention = try ms()
            case "max_local_health": maxLocalHealth = try int()
            case "members_max": membersMax = try count()
            case "new_members_per_frame_max": newMembersPerFrameMax = try count()
            case "relays_max": relaysMax = try count()
            default: throw ConfigError("unknown config key 'membership.\(key)'")
            }
        }
    }
}
