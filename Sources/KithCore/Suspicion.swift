#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A running suspicion of one member (Lifeguard IV.B, "dynamic suspicion").
///
/// The timeout starts at `maximum` and falls towards `minimum` as other
/// members independently confirm the suspicion, so a real failure is
/// declared quickly while a lone false suspicion leaves time to refute.
struct Suspicion: Hashable, Sendable {
    var incarnation: UInt32
    var startedAt: Instant
    var minimum: Duration
    var maximum: Duration
    /// Confirmations that would bring the timeout down to `minimum`.
    var expectedConfirmations: Int
    /// Who has suspected the member; the first suspecter is not a confirmation.
    var suspecters: Set<String>

    var confirmations: Int { max(0, suspecters.count - 1) }

    var deadline: Instant {
        startedAt + Suspicion.timeout(confirmations: confirmations, expected: expectedConfirmations,
                                      minimum: minimum, maximum: maximum)
    }

    /// Records a suspecter; true when it is a new, independent confirmation.
    /// Past `expectedConfirmations` (Lifeguard's k) a confirmation cannot
    /// shorten the timeout any more, so it is not recorded: a flood of
    /// forged suspecter names cannot grow the set (memberlist's `Confirm`).
    mutating func confirm(by name: String) -> Bool {
        guard confirmations < expectedConfirmations, !suspecters.contains(name) else { return false }
        return suspecters.insert(name).inserted
    }

    /// `max - (max - min) * log(c + 1) / log(k + 1)`, never below `min`:
    /// each confirmation shortens the wait less than the one before.
    static func timeout(confirmations c: Int, expected k: Int, minimum: Duration, maximum: Duration) -> Duration {
        guard k > 0, maximum > minimum else { return minimum }
        let fraction = log(Double(c) + 1) / log(Double(k) + 1)
        let span = Double(maximum.nanoseconds - minimum.nanoseconds)
        let ns = Double(maximum.nanoseconds) - span * fraction
        return .nanoseconds(max(minimum.nanoseconds, Int64(ns.rounded())))
    }
}
