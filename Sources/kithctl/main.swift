import Foundation
import KithLab

/// Runs one command and maps failures to exit codes: 2 for usage, 130 for Ctrl-C, 1 otherwise.
do {
    try Commands.run(Array(CommandLine.arguments.dropFirst()))
} catch let error as UsageError {
    printError("kithctl: \(error.message)\nRun 'kithctl help' for usage.")
    exit(2)
} catch is Interrupted {
    printError("kithctl: interrupted; daemons started by this command were stopped")
    exit(130)
} catch {
    printError("kithctl: \(error)")
    exit(1)
}
