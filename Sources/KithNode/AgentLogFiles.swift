#if canImport(Glibc)
import Glibc
#endif

/// The agents' output files, `DATA/agents/NAME.log`: the daemon stamps
/// each start and end of a process into them with the time, and keeps each
/// under `bytesMax` by rotation. An agent writes its own file directly
/// (opened with O_APPEND), so rotation copies the file to `NAME.log.1` and
/// truncates it in place (logrotate's copytruncate): the agent's next write
/// lands at the start of the emptied file, and no pipe needs draining.
struct AgentLogFiles {
    let directory: String
    let bytesMax: Int

    func path(of agent: String) -> String { directory + "/" + agent + ".log" }

    /// Appends `[TIMESTAMP kithd] text` to the agent's log.
    func mark(_ agent: String, _ text: String, wallMilliseconds: Int64) {
        let fd = open(path(of: agent), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode_t(0o644))
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array("[\(utcTimestamp(milliseconds: wallMilliseconds)) kithd] \(text)\n".utf8)
        bytes.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
    }

    /// Rotates the agent's log once it holds more than `bytesMax` bytes;
    /// returns the size it had when rotated, nil when left alone (or on an error).
    func rotateIfNeeded(_ agent: String) -> Int? {
        let current = path(of: agent)
        var info = stat()
        guard stat(current, &info) == 0, Int(info.st_size) > bytesMax else { return nil }
        guard copy(current, to: current + ".1") else { return nil }
        guard truncate(current, 0) == 0 else { return nil }
        return Int(info.st_size)
    }

    private func copy(_ source: String, to target: String) -> Bool {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { return false }
        defer { close(input) }
        let output = open(target + ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_t(0o644))
        guard output >= 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var ok = true
        while ok {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                ok = false
                break
            }
            ok = buffer.withUnsafeBytes { write(output, $0.baseAddress, count) } == count
        }
        close(output)
        guard ok, rename(target + ".tmp", target) == 0 else {
            unlink(target + ".tmp")
            return false
        }
        return true
    }
}
