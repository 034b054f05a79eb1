/// A page in the Prometheus text exposition format (version 0.0.4), written family by family. Each
/// family gets `# HELP` and `# TYPE` lines; names, labels and values are checked first, so a family
/// either goes in whole and valid or is refused with a `MetricsError` and leaves the text unchanged.
/// Pure: the caller reads its counters and passes the values in.
public struct PrometheusExposition: Sendable {
    public typealias Labels = [(name: String, value: String)]

    /// The `Content-Type` to serve `text` with.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The prefix every metric name must carry (e.g. "kith_"), so one binary's metrics are recognisable.
    public let requiredPrefix: String
    public private(set) var text = ""
    private var familyNames: Set<String> = []

    public init(requiredPrefix: String = "") {
        self.requiredPrefix = requiredPrefix
    }

    /// A counter family: a monotonic count whose name ends in `_total`.
    public mutating func counter(_ name: String, help: String, _ samples: [(labels: Labels, value: UInt64)]) throws(MetricsError) {
        try family(name, help: help, type: "counter", labelSets: samples.map(\.labels)) { lines in
            for (labels, value) in samples { lines += sampleLine(name, labels, String(value)) }
        }
    }

    public mutating func counter(_ name: String, help: String, value: UInt64) throws(MetricsError) {
        try counter(name, help: help, [([], value)])
    }

    /// A gauge family: a value that goes up and down (members by state, local health).
    public mutating func gauge(_ name: String, help: String, _ samples: [(labels: Labels, value: Double)]) throws(MetricsError) {
        if let bad = samples.first(where: { $0.value.isNaN }) {
            throw .invalidValue("gauge \(name) sample \(bad.labels.map { "\($0.name)=\($0.value)" }) is NaN")
        }
        try family(name, help: help, type: "gauge", labelSets: samples.map(\.labels)) { lines in
            for (labels, value) in samples { lines += sampleLine(name, labels, formatted(value)) }
        }
    }

    public mutating func gauge(_ name: String, help: String, value: Double) throws(MetricsError) {
        try gauge(name, help: help, [([], value)])
    }

    /// A histogram family: per series, cumulative `_bucket{le=...}` lines ending in `+Inf`, then `_sum`, `_count`.
    public mutating func histogram(
        _ name: String, help: String, _ samples: [(labels: Labels, histogram: Histogram)]
    ) throws(MetricsError) {
        try family(name, help: help, type: "histogram", labelSets: samples.map(\.labels)) { lines in
            for (labels, histogram) in samples {
                let bounds = histogram.upperBounds.map(formatted) + ["+Inf"]
                for (bound, count) in zip(bounds, histogram.cumulativeCounts) {
                    lines += sampleLine(name + "_bucket", labels + [("le", bound)], String(count))
                }
                lines += sampleLine(name + "_sum", labels, formatted(histogram.sum))
                lines += sampleLine(name + "_count", labels, String(histogram.count))
            }
        }
    }

    public mutating func histogram(_ name: String, help: String, _ histogram: Histogram) throws(MetricsError) {
        try self.histogram(name, help: help, [([], histogram)])
    }

    /// Validates a family, then appends its header and the sample lines `write` produces.
    private mutating func family(
        _ name: String, help: String, type: String, labelSets: [Labels], write: (inout String) -> Void
    ) throws(MetricsError) {
        try MetricName.validate(name, requiredPrefix: requiredPrefix, isCounter: type == "counter")
        guard !help.allSatisfy(\.isWhitespace) else { throw .emptyHelp(name) }
        guard !familyNames.contains(name) else { throw .duplicate("metric family \(name)") }
        var seen: Set<[String]> = []
        for labels in labelSets {
            try MetricName.validateLabels(labels)
            let key = labels.map { "\($0.name)=\($0.value)" }.sorted()
            guard seen.insert(key).inserted else { throw .duplicate("series \(name){\(key.joined(separator: ","))}") }
        }
        familyNames.insert(name)
        var lines = "# HELP \(name) \(escapedHelp(help))\n# TYPE \(name) \(type)\n"
        write(&lines)
        text += lines
    }
}

private func sampleLine(_ name: String, _ labels: PrometheusExposition.Labels, _ value: String) -> String {
    guard !labels.isEmpty else { return "\(name) \(value)\n" }
    let pairs = labels.map { "\($0.name)=\"\(escapedLabelValue($0.value))\"" }
    return "\(name){\(pairs.joined(separator: ","))} \(value)\n"
}

/// HELP text escapes backslash and line feed.
func escapedHelp(_ text: String) -> String {
    var escaped = ""
    for character in text.unicodeScalars {
        switch character {
        case "\\": escaped += "\\\\"
        case "\n": escaped += "\\n"
        default: escaped.unicodeScalars.append(character)
        }
    }
    return escaped
}

/// Label values escape backslash, double quote and line feed.
func escapedLabelValue(_ text: String) -> String {
    var escaped = ""
    for character in text.unicodeScalars {
        switch character {
        case "\\": escaped += "\\\\"
        case "\"": escaped += "\\\""
        case "\n": escaped += "\\n"
        default: escaped.unicodeScalars.append(character)
        }
    }
    return escaped
}

/// A float as Prometheus (Go's ParseFloat) reads it: integral values without a fraction, "+Inf",
/// "-Inf", "NaN", otherwise Swift's shortest round-trip form (e.g. "0.25", "1e-05").
func formatted(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
    if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
    return value.description
}
