import XCTest
@testable import KithCore

final class SettingsTests: XCTestCase {
    func test_validate_defaultsAndPresets_shouldBeValid() {
        XCTAssertEqual(MembershipSettings().validate(), [])
        XCTAssertEqual(MembershipSettings.lan.validate(), [])
        XCTAssertEqual(MembershipSettings.wan.validate(), [])
    }

    func test_validate_eachBadField_shouldBeReportedWithItsKeyName() {
        // `keys` lists every key reported; a non-positive interval necessarily
        // also breaks "probe_timeout_ms must be shorter than probe_interval_ms".
        struct Case {
            var keys: [String], change: (inout MembershipSettings) -> Void
            init(key: String, change: @escaping (inout MembershipSettings) -> Void) { keys = [key]; self.change = change }
            init(keys: [String], change: @escaping (inout MembershipSettings) -> Void) { self.keys = keys; self.change = change }
        }
        let cases: [Case] = [
            Case(keys: ["probe_interval_ms", "probe_timeout_ms"]) { $0.probeInterval = .zero },
            Case(keys: ["probe_interval_ms", "probe_timeout_ms"]) { $0.probeInterval = .milliseconds(-5) },
            Case(keys: ["probe_interval_ms", "probe_timeout_ms"]) {
                $0.probeInterval = .milliseconds(-5); $0.probeTimeout = .milliseconds(-10)
            },
            Case(key: "probe_timeout_ms") { $0.probeTimeout = .zero },
            Case(key: "probe_timeout_ms") { $0.probeTimeout = .milliseconds(200) },  // equal to the interval
            Case(key: "probe_timeout_ms") { $0.probeTimeout = .milliseconds(250) },
            Case(key: "indirect_probes") { $0.indirectProbes = -1 },
            Case(key: "indirect_probes") { $0.indirectProbes = 17 },
            Case(key: "retransmit_multiplier") { $0.retransmitMultiplier = 0 },
            Case(key: "retransmit_multiplier") { $0.retransmitMultiplier = 65 },
            Case(key: "max_piggyback") { $0.maxPiggyback = 0 },
            Case(key: "max_piggyback") { $0.maxPiggyback = 257 },
            Case(key: "suspicion_multiplier") { $0.suspicionMultiplier = 0.5 },
            Case(key: "suspicion_multiplier") { $0.suspicionMultiplier = 101 },
            Case(key: "suspicion_multiplier") { $0.suspicionMultiplier = .nan },
            Case(key: "suspicion_max_multiplier") { $0.suspicionMaxMultiplier = 0.99 },
            Case(key: "suspicion_max_multiplier") { $0.suspicionMaxMultiplier = .infinity },
            Case(key: "suspicion_max_multiplier") { $0.suspicionMaxMultiplier = .nan },
            Case(key: "refused_suspicion_ms") { $0.refusedSuspicionTimeout = .zero },
            Case(key: "push_pull_interval_ms") { $0.pushPullInterval = .zero },
            Case(key: "join_retry_ms") { $0.joinRetryInterval = .milliseconds(-1) },
            Case(key: "reconnect_interval_ms") { $0.reconnectInterval = .zero },
            Case(key: "dead_retention_ms") { $0.deadRetention = .zero },
            Case(key: "max_local_health") { $0.maxLocalHealth = -1 },
            Case(key: "max_local_health") { $0.maxLocalHealth = 65 },
        ]
        for t in cases {
            var s = MembershipSettings()
            t.change(&s)
            let problems = s.validate()
            let keys = problems.map { String($0.prefix { $0 != " " }) }
            XCTAssertEqual(keys, t.keys, "got \(problems)")
            XCTAssertTrue(problems.allSatisfy { $0.contains(" must ") }, "readable: \(problems)")
        }
    }

    func test_validate_boundaryValues_shouldBeAccepted() {
        let cases: [(String, (inout MembershipSettings) -> Void)] = [
            ("indirect_probes 0", { $0.indirectProbes = 0 }),
            ("indirect_probes 16", { $0.indirectProbes = 16 }),
            ("retransmit_multiplier 1", { $0.retransmitMultiplier = 1 }),
            ("retransmit_multiplier 64", { $0.retransmitMultiplier = 64 }),
            ("max_piggyback 1", { $0.maxPiggyback = 1 }),
            ("max_piggyback 256", { $0.maxPiggyback = 256 }),
            ("suspicion_multiplier 1", { $0.suspicionMultiplier = 1 }),
            ("suspicion_multiplier 100", { $0.suspicionMultiplier = 100 }),
            ("suspicion_max_multiplier 1", { $0.suspicionMaxMultiplier = 1 }),
            ("max_local_health 0", { $0.maxLocalHealth = 0 }),
            ("max_local_health 64", { $0.maxLocalHealth = 64 }),
            ("probe_timeout just under the interval", { $0.probeTimeout = .milliseconds(199) }),
        ]
        for (name, change) in cases {
            var s = MembershipSettings()
            change(&s)
            XCTAssertEqual(s.validate(), [], name)
        }
    }

    func test_validate_severalBadFields_shouldReportEachOnce() {
        var s = MembershipSettings()
        s.indirectProbes = 99
        s.maxPiggyback = 0
        s.deadRetention = .zero
        let keys = s.validate().map { String($0.prefix { $0 != " " }) }
        XCTAssertEqual(keys, ["indirect_probes", "max_piggyback", "dead_retention_ms"])
    }

    func test_wan_shouldProbeMoreSlowly_thanLan() {
        XCTAssertGreaterThan(MembershipSettings.wan.probeInterval, MembershipSettings.lan.probeInterval)
        XCTAssertGreaterThan(MembershipSettings.wan.suspicionMultiplier, MembershipSettings.lan.suspicionMultiplier)
    }
}
