/// Counts of observations in fixed buckets, with their sum: the state behind one Prometheus histogram
/// series. A value type the daemon keeps and feeds; the exposition writes it cumulatively.
public struct Histogram: Sendable, Equatable {
    /// Bucket upper bounds (inclusive), strictly increasing and finite; `+Inf` is implied.
    public let upperBounds: [Double]
    /// Observations per bucket, not cumulative; the last entry counts those above every bound.
    public private(set) var bucketCounts: [UInt64]
    public private(set) var sum: Double = 0
    public private(set) var count: UInt64 = 0

    /// Buckets for latencies in seconds from 5 ms to a minute: failure detection takes a few protocol
    /// periods (about 1 to 10 s), a relaunch adds process start-up.
    public static let latencySecondsBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    /// `upperBounds` must be non-empty, finite and strictly increasing (checked: a bad preset is a bug).
    public init(upperBounds: [Double]) {
        precondition(!upperBounds.isEmpty && upperBounds.allSatisfy(\.isFinite)
                     && zip(upperBounds, upperBounds.dropFirst()).allSatisfy { $0 < $1 },
                     "histogram bounds must be non-empty, finite and strictly increasing, but were \(upperBounds)")
        self.upperBounds = upperBounds
        bucketCounts = Array(repeating: 0, count: upperBounds.count + 1)
    }

    /// Records `value` (in the metric's base unit); NaN is ignored, as it belongs in no bucket.
    public mutating func observe(_ value: Double) {
        guard !value.isNaN else { return }
        let bucket = upperBounds.firstIndex { value <= $0 } ?? upperBounds.count
        bucketCounts[bucket] += 1
        sum += value
        count += 1
    }

    /// Records a duration in seconds, the base unit of time.
    public mutating func observe(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        observe(Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// Observations at or below each bound, then the total (the `+Inf` bucket).
    public var cumulativeCounts: [UInt64] {
        var running: UInt64 = 0
        return bucketCounts.map { running += $0; return running }
    }
}
