import Glibc
import Synchronization

/// Ctrl-C during a long command, thrown from the next poll so `defer` teardowns run.
package struct Interrupted: Error {}

/// Turns SIGINT and SIGTERM into a flag that waits check, instead of dying with daemons left running.
package enum Interrupt {
    private static let requested = Atomic<Bool>(false)

    package static func install() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { _ in Interrupt.requested.store(true, ordering: .relaxed) }
        }
    }

    package static func check() throws(Interrupted) {
        if requested.load(ordering: .relaxed) { throw Interrupted() }
    }
}
