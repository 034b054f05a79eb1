/// A point on a monotonic clock, in nanoseconds since an arbitrary origin.
///
/// The core never reads a clock: the shell passes `now` into every input,
/// and the simulator passes virtual time. That is what makes a run replayable.
public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static let zero = Instant(nanoseconds: 0)

    public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }

    public static func + (a: Instant, d: Duration) -> Instant {
        let ns = d.nanoseconds
        if ns <= 0 { return Instant(nanoseconds: a.nanoseconds - min(ns.magnitude, a.nanoseconds)) }
        let (sum, overflow) = a.nanoseconds.addingReportingOverflow(UInt64(ns))
        return Instant(nanoseconds: overflow ? .max : sum)
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    public func since(_ earlier: Instant) -> Duration {
        nanoseconds >= earlier.nanoseconds
            ? .nanoseconds(Int64(clamping: nanoseconds - earlier.nanoseconds)) : .zero
    }

    public var milliseconds: UInt64 { nanoseconds / 1_000_000 }

    public var description: String { "\(milliseconds)ms" }
}

extension Duration {
    /// Whole nanoseconds, saturating; the core does its time maths in these.
    public var nanoseconds: Int64 {
        let (s, atto) = components
        let (fromSeconds, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? .min : .max }
        return fromSeconds &+ atto / 1_000_000_000
    }

    /// Seconds as a floating-point number, for logs and figures.
    public var seconds: Double { Double(nanoseconds) / 1e9 }

    /// Scales a duration by a non-negative factor (Lifeguard's health multiplier, SWIM's log N).
    public func scaled(by factor: Double) -> Duration {
        let ns = (Double(nanoseconds) * factor).rounded()
        guard ns.isFinite else { return ns > 0 ? .nanoseconds(Int64.max) : .zero }
        return .nanoseconds(ns >= 9.2e18 ? Int64.max : ns <= -9.2e18 ? Int64.min : Int64(ns))
    }
}
