import Foundation
import KithJSON

/// Plain-text tables and the number formats kithctl prints.
package enum Table {
    /// Left-aligned columns two spaces apart, one line per row, each line ending in a newline.
    package static func render(header: [String]?, rows: [[String]]) -> String {
        let all = (header.map { [$0] } ?? []) + rows
        let columns = all.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, text in
                column == row.count - 1 ? text : text.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ") + "\n"
        }.joined()
    }

    /// A JSON scalar as a table cell: strings bare, numbers as written, absent as "-".
    package static func cell(_ value: JSON?) -> String {
        switch value {
        case .none, .null?: "-"
        case .string(let text)?: text
        case let other?: other.serialized()
        }
    }

    /// "3.2s ago", "4m05s ago": how long since a member's state changed.
    package static func ago(_ milliseconds: Double) -> String { duration(milliseconds) + " ago" }

    /// Milliseconds below a second, tenths of seconds below a minute, then minutes and hours.
    package static func duration(_ milliseconds: Double) -> String {
        if milliseconds < 1000 { return "\(Int(milliseconds.rounded()))ms" }
        let seconds = milliseconds / 1000
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let whole = Int(seconds)
        if whole < 3600 { return String(format: "%dm%02ds", whole / 60, whole % 60) }
        return String(format: "%dh%02dm", whole / 3600, whole / 60 % 60)
    }

    /// Bytes in B, KiB, MiB or GiB with one decimal.
    package static func bytes(_ count: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB"]
        var value = count
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(Int(value)) B" : String(format: "%.1f ", value) + units[unit]
    }
}
