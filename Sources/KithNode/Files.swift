#if canImport(Glibc)
import Glibc
#endif

// Small file helpers for the daemon; atomic writes are `KeyFile.write`.

/// Why a file could not be read.
public struct ReadError: Error, CustomStringConvertible {
    public var description: String
}

/// The largest file `readWholeFile` reads: configs, counters and tombstone files are a few KiB; a
/// larger one is a mistake or an attack, refused rather than cut short.
public let wholeFileBytesMax = 64 << 20

/// Reads a whole (small) file without Foundation, which would double the daemon's memory. A read error
/// (EIO, EISDIR, ...) fails the read rather than passing for the end of the file, and so does a file
/// larger than `wholeFileBytesMax`: a truncated config or counter file must never look complete.
public func readWholeFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ReadError(description: String(cString: strerror(errno))) }
    defer { close(fd) }
    let chunkBytes = 64 << 10
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: chunkBytes)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, chunkBytes) }
        if n == 0 { break }
        if n < 0 {
            if errno == EINTR { continue }
            throw ReadError(description: String(cString: strerror(errno)))
        }
        guard bytes.count + n <= wholeFileBytesMax else {
            throw ReadError(description: "larger than \(wholeFileBytesMax) bytes")
        }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// `mkdir -p`: missing parents 0755 (others may need to pass through them, e.g. agents to their
/// directory beside the data directory), the last component `mode`; returns a reason on failure.
func makeDirectory(_ path: String, mode: mode_t = 0o755) -> String? {
    var prefix = path.hasPrefix("/") ? "/" : ""
    let parts = path.split(separator: "/")
    for (index, part) in parts.enumerated() {
        prefix += part + "/"
        if mkdir(prefix, index == parts.count - 1 ? mode : 0o755) != 0 && errno != EEXIST { return String(cString: strerror(errno)) }
    }
    return nil
}

/// Creates the data directory, or checks an existing one, before anything is read from it: it must
/// be a directory owned by this process's user and writable by no one else, since whoever can write
/// there can replace the node key, the keyring or the tombstones. Tightens it to 0700. Returns why
/// it cannot be used (kithd then exits 2), nil when it can.
public func prepareDataDirectory(_ path: String) -> String? {
    if let problem = makeDirectory(path, mode: 0o700) { return "cannot create data directory \(path): \(problem)" }
    var info = stat()
    guard stat(path, &info) == 0 else { return "cannot stat data directory \(path): \(String(cString: strerror(errno)))" }
    guard info.st_mode & S_IFMT == S_IFDIR else { return "data directory \(path) is not a directory" }
    let me = geteuid()
    guard info.st_uid == me else {
        return "data directory \(path) is owned by uid \(info.st_uid), not by this daemon's uid \(me): refusing to use"
            + " a directory another user controls (chown it to uid \(me), or choose another --data-dir)"
    }
    let mode = info.st_mode & 0o7777
    guard mode & 0o022 == 0 else {
        return "data directory \(path) is writable by its group or by everyone (mode \(String(mode, radix: 8))):"
            + " refusing to use it, since others could have replaced its keys (chmod 0700 it if its content is trusted)"
    }
    if mode & 0o077 != 0, chmod(path, 0o700) != 0 {
        return "cannot make data directory \(path) 0700: \(String(cString: strerror(errno)))"
    }
    return nil
}
