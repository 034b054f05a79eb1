/// Measurements collected across bench trials, summarised as median and max.
package struct Samples {
    private var values: [String: [Double]] = [:]

    package mutating func add(_ key: String, _ value: Double) {
        values[key, default: []].append(value)
    }

    package mutating func add(_ key: String, _ newValues: some Sequence<Double>) {
        values[key, default: []].append(contentsOf: newValues)
    }

    /// Median (mean of the middle two for an even count) and maximum; nil without samples.
    package func summary(_ key: String) -> (median: Double, max: Double)? {
        guard let sorted = values[key]?.sorted(), let last = sorted.last else { return nil }
        let middle = sorted.count / 2
        let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        return (median, last)
    }
}
