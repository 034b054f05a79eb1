/// `kithctl COMMAND --help`: that command's entries of `usageText` alone (every form of it, e.g. all
/// `lab ...` lines), taken from the one usage text so the two never disagree.
enum CommandHelp {
    /// The usage lines of `command`, or nil when the usage text has no entry for it.
    static func text(for command: String) -> String? {
        var entries: [Substring] = []
        var inEntry = false
        for line in usageText.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  "), let first = line.dropFirst(2).first, first != " " {
                inEntry = line.dropFirst(2).prefix { $0 != " " } == command
                if inEntry { entries.append(line) }
            } else if inEntry, line.hasPrefix("   ") {
                entries.append(line)
            } else {
                inEntry = false
            }
        }
        guard !entries.isEmpty else { return nil }
        return (["Usage: kithctl [--node HOST:PORT] [--key FILE] \(command) ..."] + entries.map(String.init)
                + ["", "Global options and durations: kithctl help."]).joined(separator: "\n")
    }
}
