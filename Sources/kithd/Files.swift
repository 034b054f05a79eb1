#if canImport(Glibc)
import Glibc
#endif

/// Writes to standard error with one write(2), so log lines never interleave.
func writeStderr(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
}
