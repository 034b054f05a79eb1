import Foundation

/// Writes a line to stderr, where diagnostics go so stdout stays parseable.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// A runtime failure with a message meant for the operator as is (exit 1).
struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
