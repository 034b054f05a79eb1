#if canImport(Glibc)
import Glibc
#endif

// Small file helpers for the daemon; atomic writes are `KeyFile.write`.

/// Why a file could not be read.
public struct ReadError: Error, CustomStringConvertible {
    public var description: String
}

/// Reads a whole (small) file without Foundation, which would double the daemon's memory.
public func readWholeFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw ReadError(description: String(cString: strerror(errno))) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while bytes.count < 64 << 20 {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
        if n <= 0 { break }
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
