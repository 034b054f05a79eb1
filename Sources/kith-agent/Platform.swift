import Glibc

/// Monotonic milliseconds, for the interval timer and deadlines.
enum Clock {
    static var milliseconds: Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}

/// Unbuffered output straight through write(2): no log line sits in a stdio
/// buffer when the SIGTERM handler calls `_exit`.
func writeStdout(_ text: String) { writeAll(1, text) }
func writeStderr(_ text: String) { writeAll(2, text) }

private func writeAll(_ fd: Int32, _ text: String) {
    let bytes = Array(text.utf8)
    var written = 0
    while written < bytes.count {
        let count = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { return }
        written += count
    }
}
