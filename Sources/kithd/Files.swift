#if canImport(Glibc)
import Glibc
#endif

/// Small file-system helpers for the daemon's startup, without Foundation
/// (it would double the daemon's resident memory).
struct FileError: Error, CustomStringConvertible {
    var description: String
}

func readTextFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw FileError(description: String(cString: strerror(errno))) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while bytes.count <= 16 << 20 {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
        if n < 0 { throw FileError(description: String(cString: strerror(errno))) }
        if n == 0 { return String(decoding: bytes, as: UTF8.self) }
        bytes.append(contentsOf: chunk[0..<n])
    }
    throw FileError(description: "file larger than 16 MiB")
}

/// `mkdir -p`; returns a reason on failure.
func makeDirectories(_ path: String) -> String? {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        prefix += part + "/"
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST { return String(cString: strerror(errno)) }
    }
    return nil
}

/// Writes to standard error with one write(2), so log lines never interleave.
func writeStderr(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
}
