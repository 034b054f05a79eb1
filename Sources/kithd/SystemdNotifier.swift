#if canImport(Glibc)
import Glibc
#endif
import KithUV

/// The systemd notification protocol without libsystemd: datagrams such as "READY=1" to the Unix socket
/// `$NOTIFY_SOCKET` names (a leading '@' is the abstract namespace). Under `Type=notify` the unit is
/// started once kithd listens; with `WatchdogSec` the pings come from a timer on kithd's own loop, so a
/// stalled or frozen loop stops them and systemd restarts the daemon. Without `$NOTIFY_SOCKET` it does nothing.
final class SystemdNotifier {
    private let address: sockaddr_un
    private let addressLength: socklen_t
    private let fd: Int32
    private var watchdog: Timer?

    /// Nil when not started by systemd with a notification socket (or the socket cannot be opened).
    init?(environment: [String: String]) {
        guard let path = environment["NOTIFY_SOCKET"], path.utf8.count > 1,
              path.hasPrefix("/") || path.hasPrefix("@") else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        self.fd = fd
        self.address = address
        addressLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
    }

    deinit {
        close(fd)
    }

    /// Sends one state line, e.g. "READY=1"; systemd ignores what it does not know.
    func notify(_ state: String) {
        var address = self.address
        let bytes = Array(state.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, addressLength) }
            }
        }
    }

    /// Pings "WATCHDOG=1" from `loop` at half of `$WATCHDOG_USEC` (as sd_watchdog_enabled advises), when
    /// systemd asked for it and meant this process (`$WATCHDOG_PID`, when set, is our pid).
    func startWatchdog(loop: EventLoop, environment: [String: String]) {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return }
        if let pid = environment["WATCHDOG_PID"], pid != String(getpid()) { return }
        let intervalMs = max(1, usec / 2000)
        let timer = Timer(loop: loop)
        timer.start(afterMilliseconds: intervalMs, repeatMilliseconds: intervalMs) { [unowned self] in notify("WATCHDOG=1") }
        watchdog = timer
    }

    func stop() {
        notify("STOPPING=1")
        watchdog?.stop()
        watchdog?.close()
        watchdog = nil
    }
}
