import Foundation
import KithReport

/// Durations on the command line: `500ms`, `5s`, `1.5s`, `2m`, `1h`.
package enum Durations {
    private static let units: [(suffix: String, milliseconds: Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]

    /// Milliseconds in `text`; a bare number is an error (is 5 seconds or milliseconds?).
    package static func milliseconds(_ text: String, option: String, in range: ClosedRange<Int> = 1...86_400_000) throws(UsageError) -> Int {
        guard let value = parse(text) else {
            throw UsageError("\(option) takes a duration such as 500ms, 5s or 2m, not '\(text)'")
        }
        guard range.contains(value) else {
            throw UsageError("\(option) must be from \(Table.duration(Double(range.lowerBound))) to \(Table.duration(Double(range.upperBound))), not '\(text)'")
        }
        return value
    }

    /// Milliseconds, or nil unless `text` is a number followed by one of the units.
    package static func parse(_ text: String) -> Int? {
        for unit in units where text.hasSuffix(unit.suffix) {
            let number = text.dropLast(unit.suffix.count)
            // "5ms" also ends in "s": only accept a number before the suffix.
            guard !number.isEmpty, number.allSatisfy({ $0.isNumber || $0 == "." }), let value = Double(number), value >= 0 else { continue }
            return Int((value * unit.milliseconds).rounded())
        }
        return nil
    }

    /// Wall-clock milliseconds since the Unix epoch, the clock of event records.
    package static var nowMilliseconds: Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
}
