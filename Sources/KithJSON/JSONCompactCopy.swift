extension JSON {
    /// Copies the JSON value that starts at `start` (after optional whitespace) to `out`
    /// exactly as `parse` then `serialized()` would print it, without building it: the
    /// hot path of agent messages, whose payload the daemon passes on as text.
    ///
    /// Only values already in that printed form, whitespace aside, are copied: object
    /// keys in strictly increasing order, integers that fit `Int64` (no `-0`, fraction
    /// or exponent), ASCII strings whose only escapes are those `serialized()` writes
    /// (`\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`), nesting at most `maxDepth`. For
    /// anything else, valid or not, it returns nil and the caller parses the text
    /// (which also names what is wrong with an invalid one). Never reads past `bytes`.
    /// Returns the offset just after the value.
    public static func copyCompact(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, maxDepth: Int = 64,
                                   to out: inout [UInt8]) -> Int? {
        var copier = CompactCopier(bytes: bytes, pos: start, maxDepth: maxDepth)
        copier.skipWhitespace()
        guard copier.copyValue(to: &out) else { return nil }
        return copier.pos
    }
}

/// `JSON.copyCompact`'s scanner: a recursive descent that writes as it reads.
private struct CompactCopier {
    let bytes: UnsafeBufferPointer<UInt8>
    var pos: Int
    let maxDepth: Int
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>, pos: Int, maxDepth: Int) {
        self.bytes = bytes
        self.pos = pos
        self.maxDepth = maxDepth
    }

    private var peek: UInt8? { pos >= 0 && pos < bytes.count ? bytes[pos] : nil }

    mutating func skipWhitespace() {
        while let b = peek, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { pos += 1 }
    }

    mutating func copyValue(to out: inout [UInt8]) -> Bool {
        guard let b = peek else { return false }
        switch b {
        case UInt8(ascii: "{"): return copyObject(to: &out)
        case UInt8(ascii: "["): return copyArray(to: &out)
        case UInt8(ascii: "\""): return copyString(to: &out) != nil
        case UInt8(ascii: "t"): return copyLiteral("true", to: &out)
        case UInt8(ascii: "f"): return copyLiteral("false", to: &out)
        case UInt8(ascii: "n"): return copyLiteral("null", to: &out)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return copyInteger(to: &out)
        default: return false
        }
    }

    private mutating func copyLiteral(_ word: StaticString, to out: inout [UInt8]) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count - pos >= count else { return false }
        let matches = word.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[pos + $0] == expected[$0] }
        }
        guard matches else { return false }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[pos..<pos + count]))
        pos += count
        return true
    }

    /// `-?(0|[1-9][0-9]*)` of at most 18 digits (so it fits `Int64`), not `-0`, not followed by a fraction or exponent.
    private mutating func copyInteger(to out: inout [UInt8]) -> Bool {
        let start = pos
        if peek == UInt8(ascii: "-") { pos += 1 }
        let digitsStart = pos
        while let b = peek, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { pos += 1 }
        let digits = pos - digitsStart
        guard digits >= 1, digits <= 18 else { return false }
        if bytes[digitsStart] == UInt8(ascii: "0") && (digits > 1 || digitsStart > start) { return false }
        if let b = peek, b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { return false }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<pos]))
        return true
    }

    /// Copies a string; returns the range of its raw text between the quotes.
    private mutating func copyString(to out: inout [UInt8]) -> Range<Int>? {
        pos += 1
        let textStart = pos
        while let b = peek {
            switch b {
            case UInt8(ascii: "\""):
                let text = textStart..<pos
                pos += 1
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[(textStart - 1)..<pos]))
                return text
            case UInt8(ascii: "\\"):
                guard pos + 1 < bytes.count else { return nil }
                switch bytes[pos + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"),
                     UInt8(ascii: "b"), UInt8(ascii: "f"):
                    pos += 2
                default:
                    return nil
                }
            case 0x20...0x7E:
                pos += 1
            default:
                return nil
            }
        }
        return nil
    }

    private mutating func enter(_ open: UInt8, to out: inout [UInt8]) -> Bool {
        guard depth < maxDepth else { return false }
        depth += 1
        pos += 1
        out.append(open)
        skipWhitespace()
        return true
    }

    /// After an element: true past a `,`, false past the closing byte, nil for anything else.
    private mutating func next(closingWith close: UInt8, to out: inout [UInt8]) -> Bool? {
        skipWhitespace()
        switch peek {
        case UInt8(ascii: ","):
            pos += 1
            out.append(UInt8(ascii: ","))
            skipWhitespace()
            return true
        case close:
            pos += 1
            depth -= 1
            out.append(close)
            return false
        default:
            return nil
        }
    }

    /// An empty array or object: its closing bracket is copied and the nesting left.
    private mutating func closesAtOnce(_ close: UInt8, to out: inout [UInt8]) -> Bool {
        guard peek == close else { return false }
        pos += 1
        depth -= 1
        out.append(close)
        return true
    }

    private mutating func copyArray(to out: inout [UInt8]) -> Bool {
        guard enter(UInt8(ascii: "["), to: &out) else { return false }
        if closesAtOnce(UInt8(ascii: "]"), to: &out) { return true }
        while true {
            guard copyValue(to: &out), let more = next(closingWith: UInt8(ascii: "]"), to: &out) else { return false }
            if !more { return true }
        }
    }

    private mutating func copyObject(to out: inout [UInt8]) -> Bool {
        guard enter(UInt8(ascii: "{"), to: &out) else { return false }
        if closesAtOnce(UInt8(ascii: "}"), to: &out) { return true }
        var previousKey: Range<Int>?
        while true {
            guard peek == UInt8(ascii: "\""), let key = copyString(to: &out) else { return false }
            // Sorted keys without escapes: the order `serialized()` prints, and no repeated key.
            guard !bytes[key].contains(UInt8(ascii: "\\")) else { return false }
            if let previousKey, !bytes[previousKey].lexicographicallyPrecedes(bytes[key]) { return false }
            previousKey = key
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { return false }
            pos += 1
            out.append(UInt8(ascii: ":"))
            skipWhitespace()
            guard copyValue(to: &out), let more = next(closingWith: UInt8(ascii: "}"), to: &out) else { return false }
            if !more { return true }
        }
    }
}
