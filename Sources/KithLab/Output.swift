import Foundation

/// Writes a line to stderr, where diagnostics go so stdout stays parseable.
package func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// A runtime failure with a message meant for the operator as is (exit 1).
package struct Failure: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// A command line kithctl does not understand (exit 2).
package struct UsageError: Error {
    package var message: String
    package init(_ message: String) { self.message = message }
}
