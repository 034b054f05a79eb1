#if canImport(Glibc)
import Glibc
#endif
import KithControl

/// The agents' log files, `DATA/agents/NAME.log`, and their only writer: agents write into pipes
/// (`AgentOutput`), the daemon writes each line with its time and stream (`AgentLogLine`), and its own
/// `kithd` lines (each start, end, rotation). Being the only writer, it keeps each file under `bytesMax`
/// (plus at most one write) by plain rotation before a write would pass it: `NAME.log` is renamed
/// `NAME.log.1` (replacing the previous one) and a new file started, always at a line boundary.
final class AgentLogFiles {
    let directory: String
    let bytesMax: Int
    /// A log was rotated: agent, the size it had.
    var onRotated: ((String, Int) -> Void)?

    /// The open logs, by agent: each stays open while some generation's output (or a mark) uses it.
    private var files: [String: File] = [:]

    private struct File {
        var fd: Int32
        var size: Int
        var users: Int
    }

    init(directory: String, bytesMax: Int) {
        precondition(bytesMax > 0, "bytesMax must be positive, but was \(bytesMax)")
        self.directory = directory
        self.bytesMax = bytesMax
    }

    func path(of agent: String) -> String { directory + "/" + agent + ".log" }

    /// Keeps the agent's log open until the matching `release`.
    func retain(_ agent: String) {
        if var file = files[agent] {
            file.users += 1
            files[agent] = file
        } else if let fd = open(agent) {
            files[agent] = File(fd: fd, size: size(of: fd), users: 1)
        }
    }

    func release(_ agent: String) {
        guard var file = files[agent] else { return }
        file.users -= 1
        assert(file.users >= 0, "\(agent)'s log released more often than retained")
        if file.users > 0 {
            files[agent] = file
        } else {
            close(file.fd)
            files[agent] = nil
        }
    }

    /// Appends whole formatted lines (newlines included). Best effort: a log that cannot be written to is
    /// the agent's loss, never the daemon's problem.
    func append(_ agent: String, _ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        retain(agent)
        defer { release(agent) }
        guard var file = files[agent] else { return }
        if file.size > 0, file.size + bytes.count > bytesMax { file = rotate(agent, file) }
        var done = 0
        while done < bytes.count {
            let count = write(file.fd, bytes.baseAddress! + done, bytes.count - done)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            done += count
        }
        file.size += done
        files[agent] = file
    }

    /// Appends a `kithd` line with `text` at `wallMilliseconds`.
    func mark(_ agent: String, _ text: String, wallMilliseconds: Int64) {
        var line = Array(AgentLogLine(tsMs: wallMilliseconds, stream: AgentLogLine.kithd, text: text).formatted.utf8)
        line.append(0x0A)
        line.withUnsafeBytes { append(agent, $0) }
    }

    /// SIGHUP: every open log is opened anew at its path, so one moved away (by hand or by logrotate)
    /// is left alone and a fresh one started.
    func reopenAll() {
        for (agent, file) in files {
            guard let fd = open(agent) else { continue }
            close(file.fd)
            files[agent] = File(fd: fd, size: size(of: fd), users: file.users)
        }
    }

    /// The file to write to from now on: a new one, or `file` when the log cannot be rotated (then it
    /// goes on past its cap rather than losing lines).
    private func rotate(_ agent: String, _ file: File) -> File {
        let current = path(of: agent)
        guard rename(current, current + ".1") == 0 else { return file }
        guard let fd = open(agent) else { return file }  // goes on in NAME.log.1 until a NAME.log can be made
        close(file.fd)
        onRotated?(agent, file.size)
        let note = AgentLogLine(tsMs: ProcessStats.wallMilliseconds, stream: AgentLogLine.kithd,
                                text: "log rotated at \(file.size) bytes (cap \(bytesMax)); the previous part is \(agent).log.1")
        var line = Array(note.formatted.utf8)
        line.append(0x0A)
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        return File(fd: fd, size: max(0, written), users: file.users)
    }

    private func open(_ agent: String) -> Int32? {
        let fd = Glibc.open(path(of: agent), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode_t(0o644))
        return fd >= 0 ? fd : nil
    }

    private func size(of fd: Int32) -> Int {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int(info.st_size) : 0
    }
}
