import Glibc
import KithControl
import KithCore

/// Agent log files (`DATA/agents/NAME.log`, the agent's stdout and stderr as `AgentLogFiles` writes
/// them) as `kithctl logs` reads them over the control port: read-only, a bounded window of whole lines
/// per request; the reader splits them into generations at the daemon's start lines (`AgentLogMarker`).
enum AgentLogs {
    /// At most this much of a log per request; `kithctl logs` pages on with `offset`.
    static let readBytesMax = 256 << 10
    /// An agent name that can only name a file inside the log directory.
    static func isSafeName(_ agent: String) -> Bool {
        !agent.isEmpty && agent.utf8.count <= 255 && !agent.hasPrefix(".") && !agent.contains("/") && !agent.contains("\0")
    }

    /// A window of a log: whole lines from byte `start` up to `end`, the file's size then, and which file
    /// it is (its inode: a rotated log is a new file).
    struct Window: Equatable {
        var lines: [String]
        var start: Int64
        var end: Int64
        var size: Int64
        var fileID: Int64
    }

    /// From `offset` (or, when nil, the last `bytesMax` bytes), at most `bytesMax` bytes, cut back to the
    /// last whole line; an offset past the end, or into another file than `fileID` (the log was rotated
    /// since), reads from the start. A single line longer than `bytesMax` is returned cut at `bytesMax`.
    /// Nil when the file cannot be read.
    static func read(path: String, offset: Int64?, fileID: Int64? = nil, bytesMax: Int = readBytesMax) -> Window? {
        precondition(bytesMax > 0, "bytesMax must be positive, but was \(bytesMax)")
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        let size = Int64(info.st_size)
        let id = Int64(bitPattern: UInt64(info.st_ino))
        var start = offset ?? max(0, size - Int64(bytesMax))
        if start > size || start < 0 || (offset != nil && fileID.map { $0 != id } == true) { start = 0 }
        let count = Int(min(Int64(bytesMax), size - start))
        var bytes = [UInt8](repeating: 0, count: count)
        let got = count == 0 ? 0 : bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(start)) }
        guard got >= 0 else { return nil }
        bytes.removeLast(count - got)
        var skip = 0
        // Reading the tail of a file whose window starts mid-line: drop that partial first line.
        if offset == nil, start > 0, let newline = bytes.firstIndex(of: 0x0A) { skip = newline + 1 }
        var used = bytes.count
        if let last = bytes.lastIndex(of: 0x0A), last >= skip {
            used = last + 1
        } else if bytes.count < bytesMax {
            used = skip  // only an unfinished line: wait for its end
        }
        let text = bytes[skip..<used]
        var lines = text.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if lines.last == "" { lines.removeLast() }
        return Window(lines: lines, start: start + Int64(skip), end: start + Int64(used), size: size, fileID: id)
    }
}

extension Node {
    /// `{"cmd":"logs","agent":NAME,"offset":N?,"file_id":F?}`: a window of the agent's log on this node
    /// (read-only); `file_id` is the one a previous reply gave, so a rotation since is noticed.
    func agentLogReply(_ request: JSON) -> JSON {
        guard let agent = request["agent"]?.stringValue, AgentLogs.isSafeName(agent) else {
            return ["ok": false, "error": "logs needs an agent name (no '/', not starting with '.')"]
        }
        let offset = request["offset"]?.intValue
        let path = config.effectiveDataDir + "/agents/" + agent + ".log"
        guard let window = AgentLogs.read(path: path, offset: offset.map { max(0, $0) }, fileID: request["file_id"]?.intValue) else {
            return ["ok": true, "node": .string(config.name), "agent": .string(agent), "exists": false, "lines": [],
                    "start": 0, "end": 0, "size": 0]
        }
        return ["ok": true, "node": .string(config.name), "agent": .string(agent), "exists": true,
                "lines": .array(window.lines.map(JSON.string)), "start": .int(window.start), "end": .int(window.end),
                "size": .int(window.size), "file_id": .int(window.fileID)]
    }
}
