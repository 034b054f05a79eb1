import Glibc

/// Monotonic time and bounded polling; every wait in kithctl goes through here
/// so each has a deadline and notices Ctrl-C.
package enum Waiting {
    package static let clock = ContinuousClock()

    package static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = clock.now - start
        return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    }

    /// Sleeps in short slices so Ctrl-C is noticed quickly.
    package static func sleep(milliseconds: Int) throws(Interrupted) {
        let end = clock.now + .milliseconds(milliseconds)
        while clock.now < end {
            try Interrupt.check()
            usleep(UInt32(min(50, max(1, milliseconds)) * 1000))
        }
        try Interrupt.check()
    }

    /// Calls `attempt` every `interval` ms until it returns a value; after
    /// `timeout` seconds throws `Failure(what())`.
    package static func poll<T>(every interval: Int = 25, timeout: Double, _ what: @autoclosure () -> String,
                        _ attempt: () throws -> T?) throws -> T {
        let start = clock.now
        while true {
            try Interrupt.check()
            if let value = try attempt() { return value }
            if milliseconds(since: start) > timeout * 1000 {
                throw Failure(what())
            }
            usleep(UInt32(interval * 1000))
        }
    }
}
