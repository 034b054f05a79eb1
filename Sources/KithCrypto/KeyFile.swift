#if canImport(Glibc)
import Glibc
#endif

/// Why a key file could not be written or read, worded for an operator.
public struct KeyFileError: Error, CustomStringConvertible, Sendable {
    /// The file concerned.
    public let path: String
    /// What was being done, e.g. "read" or "rename into place".
    public let action: String
    /// The `errno` behind it, 0 when the problem is not a system call's.
    public let code: Int32
    /// A short reason, from `strerror` when there is an errno.
    public let reason: String

    init(path: String, action: String, code: Int32) {
        self.init(path: path, action: action, code: code, reason: String(cString: strerror(code)).lowercased())
    }

    /// An error that is not a system call's, e.g. content that is not a key.
    public init(path: String, action: String, code: Int32 = 0, reason: String) {
        self.path = path
        self.action = action
        self.code = code
        self.reason = reason
    }

    /// True when the file does not exist, so callers can create it instead.
    public var isMissing: Bool { code == ENOENT }

    public var description: String { "cannot \(action) key file \(path): \(reason)" }
}

/// Small secret files (a node's signing key, a cluster key): only the owner
/// may read them, and a crash never leaves a half-written one behind.
public enum KeyFile {
    /// Key files are tiny; anything larger is the wrong file.
    public static let maxBytes = 64 * 1024

    /// Replaces `path` with `text`, mode 0600 whatever the umask: writes a
    /// temporary file next to it, syncs it, and renames it into place, so
    /// readers see the old content or the new, never a torn one.
    public static func write(_ text: String, to path: String) throws(KeyFileError) {
        let temporary = "\(path).tmp-\(getpid())"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw KeyFileError(path: temporary, action: "create", code: errno) }
        do throws(KeyFileError) {
            // The umask can only narrow the mode; fchmod makes it exactly 0600.
            guard fchmod(fd, 0o600) == 0 else { throw KeyFileError(path: temporary, action: "chmod", code: errno) }
            try writeAll(Array(text.utf8), fd: fd, path: temporary)
            guard fsync(fd) == 0 else { throw KeyFileError(path: temporary, action: "sync", code: errno) }
            guard close(fd) == 0 else {
                unlink(temporary)
                throw KeyFileError(path: temporary, action: "close", code: errno)
            }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw KeyFileError(path: path, action: "rename into place", code: code)
        }
        syncDirectory(of: path)
    }

    /// The whole file as text; fails if it is missing (`isMissing`), unreadable or too large.
    public static func read(_ path: String) throws(KeyFileError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw KeyFileError(path: path, action: "read", code: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw KeyFileError(path: path, action: "read", code: errno)
            }
            if count == 0 { break }
            bytes += chunk[..<count]
            guard bytes.count <= maxBytes else {
                throw KeyFileError(path: path, action: "read", reason: "larger than \(maxBytes) bytes, not a key file")
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func writeAll(_ bytes: [UInt8], fd: Int32, path: String) throws(KeyFileError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw KeyFileError(path: path, action: "write", code: errno)
            }
            offset += written
        }
    }

    /// Makes the rename durable; best effort, since some file systems refuse to sync directories.
    private static func syncDirectory(of path: String) {
        let directory: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            directory = "."
        }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}
