/// Medians and seeded percentile-bootstrap 95% confidence intervals for the
/// figures of a condition's runs, and for the difference between two
/// conditions. A study's runs are few and their figures skewed (latencies,
/// counts), so the median and a bootstrap interval assume no distribution;
/// the seed makes a report's intervals the same each time it is written.
package enum Statistics {
    /// Resamples per interval: enough for the 2.5% and 97.5% quantiles to settle to a few tenths of a percent.
    package static let resamples = 2000

    /// A closed interval [low, high].
    package struct Interval: Equatable {
        package var low: Double
        package var high: Double

        package init(low: Double, high: Double) {
            precondition(low <= high, "an interval's low end is above its high end")
            self.low = low
            self.high = high
        }

        package func contains(_ value: Double) -> Bool { low <= value && value <= high }
    }

    /// The difference between two conditions' medians (condition minus baseline) and its interval.
    package struct Difference: Equatable {
        package var difference: Double
        package var ci95: Interval
        /// Whether the interval leaves out zero: the conditions differ at the 5% level.
        package var excludesZero: Bool { !ci95.contains(0) }
    }

    package static func median(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : quantile(sorted: values.sorted(), 0.5)
    }

    /// The `p` quantile of sorted values, interpolating between neighbours (Hyndman and Fan type 7, as R and NumPy default).
    package static func quantile(sorted values: [Double], _ p: Double) -> Double {
        precondition(!values.isEmpty && (0...1).contains(p), "a quantile needs values and p in 0...1")
        let position = p * Double(values.count - 1)
        let below = Int(position.rounded(.down))
        let above = min(below + 1, values.count - 1)
        return values[below] + (values[above] - values[below]) * (position - Double(below))
    }

    /// The 95% percentile-bootstrap interval of the median; nil without values. One value gives [v, v].
    package static func medianInterval(_ values: [Double], seed: UInt64, resamples: Int = resamples) -> Interval? {
        guard let first = values.first else { return nil }
        // Every resample of equal values has that median: most counts of a study are all 0.
        if values.allSatisfy({ $0 == first }) { return Interval(low: first, high: first) }
        var random = StatisticsRandom(seed: seed)
        var resampler = Resampler(values)
        var medians = (0..<resamples).map { _ in resampler.median(&random) }
        return percentileInterval(&medians)
    }

    /// median(condition) − median(baseline) with its 95% percentile-bootstrap interval
    /// (each side resampled on its own); nil when either has no values.
    package static func difference(baseline: [Double], condition: [Double], seed: UInt64,
                                   resamples: Int = resamples) -> Difference? {
        guard let base = median(baseline), let other = median(condition) else { return nil }
        if baseline.allSatisfy({ $0 == base }), condition.allSatisfy({ $0 == other }) {
            return Difference(difference: other - base, ci95: Interval(low: other - base, high: other - base))
        }
        var random = StatisticsRandom(seed: seed)
        var a = Resampler(baseline)
        var b = Resampler(condition)
        var differences = (0..<resamples).map { _ in
            let left = a.median(&random)
            return b.median(&random) - left
        }
        return Difference(difference: other - base, ci95: percentileInterval(&differences))
    }

    /// The median of a resample (n draws with replacement) in O(n) without sorting it: the draws
    /// only count how often each of the sorted values was taken, and the median is read off the running count.
    private struct Resampler {
        let sorted: [Double]
        var counts: [Int]

        init(_ values: [Double]) {
            sorted = values.sorted()
            counts = [Int](repeating: 0, count: values.count)
        }

        mutating func median(_ random: inout StatisticsRandom) -> Double {
            let n = sorted.count
            for index in counts.indices { counts[index] = 0 }
            for _ in 0..<n { counts[random.below(n)] += 1 }
            // Type-7 median: the values at ranks ⌊(n−1)/2⌋ and ⌈(n−1)/2⌉ (0-based), averaged when they differ.
            let lowRank = (n - 1) / 2
            let highRank = n / 2
            var seen = 0
            var low: Double?
            for (index, count) in counts.enumerated() where count > 0 {
                seen += count
                if low == nil, seen > lowRank { low = sorted[index] }
                if seen > highRank { return (low! + sorted[index]) / 2 }
            }
            preconditionFailure("a resample has n values")
        }
    }

    /// The 2.5% and 97.5% quantiles of the bootstrap replicates.
    private static func percentileInterval(_ replicates: inout [Double]) -> Interval {
        replicates.sort()
        return Interval(low: quantile(sorted: replicates, 0.025), high: quantile(sorted: replicates, 0.975))
    }

    /// A per-figure seed from the report's seed and the figure's name, so each interval is
    /// reproducible on its own and adding a figure leaves the others' intervals as they were.
    package static func seed(_ base: UInt64, _ parts: String...) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ base
        for byte in parts.joined(separator: "\u{1f}").utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}

/// SplitMix64: small, fast and seedable; KithReport stays free of KithCore.
package struct StatisticsRandom {
    private var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (Lemire's multiply-shift; the bias at these bounds is below 2^-40).
    package mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "an empty range")
        return Int((next().multipliedFullWidth(by: UInt64(bound))).high)
    }

    /// Uniform in [0, 1).
    package mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}
