#if canImport(Glibc)
import Glibc
#endif

/// Writes to standard error with one write(2), so log lines never interleave.
func writeStderr(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
}

/// The process environment as a dictionary (without Foundation).
func processEnvironment() -> [String: String] {
    var variables: [String: String] = [:]
    var cursor = environ
    while let entry = cursor.pointee {
        let text = String(cString: entry)
        if let equals = text.firstIndex(of: "=") {
            variables[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        cursor += 1
    }
    return variables
}
