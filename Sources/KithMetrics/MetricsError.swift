/// Why a metric family was refused. Names and labels are fixed in code, so every case is a bug in the
/// caller; the writer refuses rather than emit text that Prometheus or `promtool check metrics` rejects.
public enum MetricsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not `[a-z_][a-z0-9_]*` (snake case, no colons: those are for recording rules), or missing the
    /// exposition's required prefix.
    case invalidMetricName(String)
    /// Counters end in `_total`; other types must not, nor in `_bucket`, `_sum` or `_count`.
    case misplacedSuffix(String)
    /// A unit other than a base unit (`_milliseconds`, `_kilobytes`, `_ms`), or a type in the name.
    case nonBaseUnit(String)
    /// Not `[a-z_][a-z0-9_]*`, reserved (`__` prefix, `le` on histograms), or repeated in one sample.
    case invalidLabelName(String)
    case emptyHelp(String)
    /// A metric family written twice, or two samples of one family with the same labels.
    case duplicate(String)
    /// A gauge sample that is NaN, or a histogram without buckets.
    case invalidValue(String)

    public var description: String {
        switch self {
        case .invalidMetricName(let name): "invalid metric name \"\(name)\""
        case .misplacedSuffix(let name): "metric \"\(name)\": counters and only counters end in _total; _bucket, _sum, _count are reserved"
        case .nonBaseUnit(let name): "metric \"\(name)\": use base units (seconds, bytes) and no type in the name"
        case .invalidLabelName(let name): "invalid or reserved label name \"\(name)\""
        case .emptyHelp(let name): "metric \"\(name)\" has no help text"
        case .duplicate(let what): "duplicate \(what)"
        case .invalidValue(let what): "invalid value: \(what)"
        }
    }
}
