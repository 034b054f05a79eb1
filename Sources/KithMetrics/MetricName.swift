/// The naming rules `promtool check metrics` lints, applied before anything is written.
enum MetricName {
    /// Units with a base unit to use instead, abbreviations, and metric types, as name tokens.
    private static let refusedTokens: Set<Substring> = [
        "milliseconds", "microseconds", "nanoseconds", "minutes", "hours", "days", "weeks",
        "kilobytes", "megabytes", "gigabytes", "terabytes", "kibibytes", "mebibytes", "gibibytes", "bits", "percent",
        "ms", "us", "ns", "sec", "secs", "min", "mins", "hr", "hrs", "kb", "mb", "gb", "kib", "mib", "gib",
        "counter", "gauge", "histogram", "summary",
    ]
    private static let reservedSuffixes = ["_bucket", "_sum", "_count"]

    /// Checks a family's name for its type; `isCounter` decides whether `_total` is required or refused.
    static func validate(_ name: String, requiredPrefix: String, isCounter: Bool) throws(MetricsError) {
        guard isSnakeCase(name), name.hasPrefix(requiredPrefix), name.count > requiredPrefix.count else {
            throw .invalidMetricName(name)
        }
        guard name.hasSuffix("_total") == isCounter, !reservedSuffixes.contains(where: name.hasSuffix) else {
            throw .misplacedSuffix(name)
        }
        if name.split(separator: "_").contains(where: refusedTokens.contains) { throw .nonBaseUnit(name) }
    }

    /// Checks one sample's label names; `le` is the histogram's own.
    static func validateLabels(_ labels: PrometheusExposition.Labels) throws(MetricsError) {
        var seen: Set<String> = []
        for (name, _) in labels {
            guard isSnakeCase(name), !name.hasPrefix("__"), name != "le", seen.insert(name).inserted else {
                throw .invalidLabelName(name)
            }
        }
    }

    /// `[a-z_][a-z0-9_]*`: Prometheus' grammar without upper case (camelCase is linted) or colons.
    static func isSnakeCase(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || isLower(first) else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isLower($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    private static func isLower(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }
}
