#if canImport(Glibc)
import Glibc
#endif

/// What a kithd without root needs to run agents under their own uids, as the
/// systemd unit grants it (`AmbientCapabilities`): switch uid and gid, give an
/// agent its working directory, signal processes of other uids, and empty the
/// agent's capability bounding set.
extension Containment {
    /// CAP_CHOWN 0, CAP_KILL 5, CAP_SETGID 6, CAP_SETUID 7, CAP_SETPCAP 8 (linux/capability.h).
    static let uidSwitchCapabilities: [Int] = [0, 5, 6, 7, 8]

    /// True when every capability in `numbers` is in this process's effective set (`CapEff` in /proc/self/status).
    static func holdsCapabilities(_ numbers: [Int], status: String? = try? readWholeFile("/proc/self/status")) -> Bool {
        guard let status,
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingPrefix(while: \.isWhitespace), radix: 16)
        else { return false }
        return numbers.allSatisfy { mask & (1 << UInt64($0)) != 0 }
    }
}
