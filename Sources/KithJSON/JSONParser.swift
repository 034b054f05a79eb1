extension JSON {
    /// Parses a complete JSON text (RFC 8259, strict: no comments, no trailing
    /// commas, no NaN or Infinity), allowing whitespace around the value.
    ///
    /// Numbers without fraction or exponent that fit `Int64` become `.int`, all
    /// others `.double`; a number too large for `Double` is an error. Containers
    /// nested deeper than `maxDepth` are an error, which also bounds the stack the
    /// parser uses. A repeated object key keeps its last value.
    public static func parse(_ text: String, maxDepth: Int = 64) throws(JSONError) -> JSON {
        try parse(bytes: text.utf8, maxDepth: maxDepth)
    }

    /// Parses a complete JSON text from UTF-8 bytes; invalid UTF-8 in a string is an error.
    public static func parse(bytes: some Collection<UInt8>, maxDepth: Int = 64) throws(JSONError) -> JSON {
        var parser = JSONParser(bytes: Array(bytes), maxDepth: maxDepth)
        return try parser.parseDocument()
    }
}

/// A recursive-descent parser over UTF-8 bytes; offsets in its errors are byte offsets.
private struct JSONParser {
    private let bytes: [UInt8]
    private let maxDepth: Int
    private var pos = 0
    private var depth = 0

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws(JSONError) -> JSON {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard pos == bytes.count else { throw JSONError("unexpected data after the value", offset: pos) }
        return value
    }

    private var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private mutating func skipWhitespace() {
        while let b = peek, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { pos += 1 }
    }

    private mutating func parseValue() throws(JSONError) -> JSON {
        guard let b = peek else { throw JSONError("unexpected end of input", offset: pos) }
        switch b {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try parseLiteral("true", .bool(true))
        case UInt8(ascii: "f"): return try parseLiteral("false", .bool(false))
        case UInt8(ascii: "n"): return try parseLiteral("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw JSONError("unexpected character", offset: pos)
        }
    }

    private mutating func parseLiteral(_ word: StaticString, _ value: JSON) throws(JSONError) -> JSON {
        let count = word.utf8CodeUnitCount
        let matches = word.withUTF8Buffer { expected in
            bytes.count - pos >= count && bytes[pos..<pos + count].elementsEqual(expected)
        }
        guard matches else { throw JSONError("invalid literal", offset: pos) }
        pos += count
        return value
    }

    // MARK: Containers

    private mutating func enterContainer() throws(JSONError) {
        guard depth < maxDepth else { throw JSONError("nesting deeper than \(maxDepth)", offset: pos) }
        depth += 1
        pos += 1
        skipWhitespace()
    }

    /// Consumes a `,` (returning true) or the closing byte (returning false).
    private mutating func continueContainer(closingWith close: UInt8) throws(JSONError) -> Bool {
        skipWhitespace()
        switch peek {
        case UInt8(ascii: ","):
            pos += 1
            skipWhitespace()
            return true
        case close:
            pos += 1
            depth -= 1
            return false
        default:
            throw JSONError("expected ',' or '\(Character(Unicode.Scalar(close)))'", offset: pos)
        }
    }

    private mutating func parseArray() throws(JSONError) -> JSON {
        try enterContainer()
        var elements: [JSON] = []
        if peek == UInt8(ascii: "]") {
            pos += 1
            depth -= 1
            return .array(elements)
        }
        repeat {
            elements.append(try parseValue())
        } while try continueContainer(closingWith: UInt8(ascii: "]"))
        return .array(elements)
    }

    private mutating func parseObject() throws(JSONError) -> JSON {
        try enterContainer()
        var members: [String: JSON] = [:]
        if peek == UInt8(ascii: "}") {
            pos += 1
            depth -= 1
            return .object(members)
        }
        repeat {
            guard peek == UInt8(ascii: "\"") else { throw JSONError("expected a string key", offset: pos) }
            let key = try parseString()
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw JSONError("expected ':'", offset: pos) }
            pos += 1
            skipWhitespace()
            members[key] = try parseValue()
        } while try continueContainer(closingWith: UInt8(ascii: "}"))
        return .object(members)
    }

    // MARK: Strings

    /// Parses a string starting at its opening quote. Unescaped runs are copied
    /// as bytes; without escapes the bytes are decoded in place.
    private mutating func parseString() throws(JSONError) -> String {
        let start = pos
        pos += 1
        var runStart = pos
        var unescaped: [UInt8] = []
        var hasEscapes = false
        while true {
            guard let b = peek else { throw JSONError("unterminated string", offset: start) }
            switch b {
            case UInt8(ascii: "\""):
                let decoded = hasEscapes
                    ? String(validating: unescaped + bytes[runStart..<pos], as: UTF8.self)
                    : String(validating: bytes[runStart..<pos], as: UTF8.self)
                guard let string = decoded else { throw JSONError("invalid UTF-8 in string", offset: start) }
                pos += 1
                return string
            case UInt8(ascii: "\\"):
                hasEscapes = true
                unescaped.append(contentsOf: bytes[runStart..<pos])
                try parseEscape(into: &unescaped)
                runStart = pos
            case ..<0x20:
                throw JSONError("unescaped control character in string", offset: pos)
            default:
                pos += 1
            }
        }
    }

    /// Parses one escape starting at its backslash, appending the UTF-8 it stands for.
    private mutating func parseEscape(into out: inout [UInt8]) throws(JSONError) {
        let start = pos
        pos += 1
        guard let e = peek else { throw JSONError("unterminated string", offset: start) }
        pos += 1
        switch e {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var code = try parseHex4(escapeStart: start)
            if (0xD800..<0xDC00).contains(code) {
                guard bytes.count - pos >= 2, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u")
                else { throw JSONError("unpaired surrogate", offset: start) }
                pos += 2
                let low = try parseHex4(escapeStart: pos - 2)
                guard (0xDC00..<0xE000).contains(low) else { throw JSONError("unpaired surrogate", offset: start) }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let scalar = Unicode.Scalar(code) else { throw JSONError("unpaired surrogate", offset: start) }
            UTF8.encode(scalar) { out.append($0) }
        default:
            throw JSONError("invalid escape", offset: start)
        }
    }

    private mutating func parseHex4(escapeStart: Int) throws(JSONError) -> UInt32 {
        guard bytes.count - pos >= 4 else { throw JSONError("invalid \\u escape", offset: escapeStart) }
        var code: UInt32 = 0
        for b in bytes[pos..<pos + 4] {
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw JSONError("invalid \\u escape", offset: escapeStart)
            }
            code = code << 4 | UInt32(digit)
        }
        pos += 4
        return code
    }

    // MARK: Numbers

    private static func isDigit(_ b: UInt8?) -> Bool {
        guard let b else { return false }
        return b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")
    }

    private mutating func skipDigits() throws(JSONError) {
        guard Self.isDigit(peek) else { throw JSONError("expected a digit", offset: pos) }
        while Self.isDigit(peek) { pos += 1 }
    }

    private mutating func parseNumber() throws(JSONError) -> JSON {
        let start = pos
        let negative = peek == UInt8(ascii: "-")
        if negative { pos += 1 }
        if peek == UInt8(ascii: "0") { pos += 1 } else { try skipDigits() }
        var isInteger = true
        if peek == UInt8(ascii: ".") {
            isInteger = false
            pos += 1
            try skipDigits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            isInteger = false
            pos += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { pos += 1 }
            try skipDigits()
        }
        let text = bytes[start..<pos]
        if isInteger, let value = Self.int64(digits: text.dropFirst(negative ? 1 : 0), negative: negative) {
            return .int(value)
        }
        guard let value = Double(String(decoding: text, as: UTF8.self)), value.isFinite else {
            throw JSONError("number out of range", offset: start)
        }
        return .double(value)
    }

    /// The value of validated ASCII digits, nil if it does not fit `Int64`.
    /// Accumulates negatively so that `Int64.min` fits.
    private static func int64(digits: ArraySlice<UInt8>, negative: Bool) -> Int64? {
        var value: Int64 = 0
        for b in digits {
            let (scaled, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = scaled.subtractingReportingOverflow(Int64(b - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            value = next
        }
        if negative { return value }
        let (positive, overflow) = Int64(0).subtractingReportingOverflow(value)
        return overflow ? nil : positive
    }
}
