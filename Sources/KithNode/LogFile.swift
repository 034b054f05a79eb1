#if canImport(Glibc)
import Glibc
#endif

/// kithd's own log file (`log_file`): lines appended with one write(2)
/// each, and reopened on SIGHUP so that logrotate can move it away.
/// Used only from the loop thread (the logger's sink and the signal
/// watcher), hence unchecked.
public final class LogFile: @unchecked Sendable {
    public let path: String
    private var fd: Int32

    /// Opens (creating, 0640) `path` for appending; throws why not.
    public init(path: String) throws(LogFileError) {
        self.path = path
        fd = try LogFile.open(path)
    }

    deinit { close(fd) }

    /// Appends one line (a newline is added).
    public func write(line: String) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        bytes.withUnsafeBytes { _ = Glibc.write(fd, $0.baseAddress, $0.count) }
    }

    /// Opens `path` anew (a rotated file is left to whoever moved it); on
    /// failure the old descriptor stays in use and the reason is returned.
    public func reopen() -> String? {
        do {
            let fresh = try LogFile.open(path)
            close(fd)
            fd = fresh
            return nil
        } catch {
            return error.description
        }
    }

    private static func open(_ path: String) throws(LogFileError) -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode_t(0o640))
        guard fd >= 0 else { throw LogFileError(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        return fd
    }
}

/// Why the log file could not be opened.
public struct LogFileError: Error, CustomStringConvertible {
    public var description: String
}
