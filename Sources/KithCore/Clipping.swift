extension String {
    /// The longest prefix of this string that fits in `limit` UTF-8 bytes,
    /// cut on a character boundary (never inside a scalar or a grapheme).
    ///
    /// Free text (a kill-switch reason, a crash status) is clipped where it
    /// enters the core, so that what the core later encodes always fits the
    /// wire's limits and the encoder's assertions never fire on user input.
    public func clipped(toUTF8Bytes limit: Int) -> String {
        guard utf8.count > limit else { return self }
        var used = 0
        var end = startIndex
        for character in self {
            let size = character.utf8.count
            guard used + size <= limit else { break }
            used += size
            end = index(after: end)
        }
        return String(self[..<end])
    }
}

extension UInt64 {
    /// One more, or nil at `limit`: a counter that must not wrap or trap.
    func incremented(below limit: UInt64) -> UInt64? {
        self < limit ? self + 1 : nil
    }
}

extension FixedWidthInteger {
    /// One more, staying at `.max` instead of trapping.
    var saturatingSuccessor: Self { self == .max ? self : self + 1 }
}
