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

/// `mkdir -p`; returns a reason on failure.
func makeDirectory(_ path: String) -> String? {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        prefix += part + "/"
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST { return String(cString: strerror(errno)) }
    }
    return nil
}
