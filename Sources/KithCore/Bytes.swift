/// Appends primitive values to a byte buffer in the wire format's encodings:
/// fixed-width integers big-endian, varints as unsigned LEB128, strings and
/// byte strings prefixed by their varint length.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Whether the bounded writers assert their limit (debug builds). Off
    /// only to forge frames a hostile peer would send, in decoder tests.
    public var checksLimits = true

    public init() {}

    public mutating func u8(_ v: UInt8) { bytes.append(v) }

    public mutating func u16(_ v: UInt16) { fixed(v) }

    public mutating func u32(_ v: UInt32) { fixed(v) }

    public mutating func u64(_ v: UInt64) { fixed(v) }

    /// Unsigned LEB128: seven bits per byte, low bits first, high bit set on all but the last.
    public mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Varint byte length, then the UTF-8.
    public mutating func string(_ s: String) {
        varint(UInt64(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }

    /// Varint length, then the bytes.
    public mutating func bytes(_ b: [UInt8]) {
        varint(UInt64(b.count))
        bytes.append(contentsOf: b)
    }

    // The bounded forms assert the limit `ByteReader` enforces on the same
    // field: a value the decoder would reject is a bug where it was made,
    // caught in debug builds before it reaches the wire.

    /// `string(_:)` of at most `maxBytes` UTF-8 bytes.
    public mutating func string(_ s: String, maxBytes: Int) {
        assert(!checksLimits || s.utf8.count <= maxBytes, "string of \(s.utf8.count) bytes exceeds the wire limit \(maxBytes): \(s.prefix(40))…")
        string(s)
    }

    /// `bytes(_:)` of at most `maxBytes` bytes.
    public mutating func bytes(_ b: [UInt8], maxBytes: Int) {
        assert(!checksLimits || b.count <= maxBytes, "\(b.count) bytes exceed the wire limit \(maxBytes)")
        bytes(b)
    }

    /// An element count of at most `max`, as `ByteReader.count(max:)` reads it.
    public mutating func count(_ n: Int, max: Int) {
        assert(!checksLimits || (n >= 0 && n <= max), "count \(n) exceeds the wire limit \(max)")
        varint(UInt64(n))
    }

    /// A varint of at most `max`, as the decoder range-checks it.
    public mutating func varint(_ v: UInt64, max: UInt64) {
        assert(!checksLimits || v <= max, "value \(v) exceeds the wire limit \(max)")
        varint(v)
    }

    private mutating func fixed<T: FixedWidthInteger>(_ v: T) {
        var shift = T.bitWidth
        while shift > 0 {
            shift -= 8
            bytes.append(UInt8(truncatingIfNeeded: v >> shift))
        }
    }
}

/// Why bytes from the network could not be decoded.
public struct DecodeError: Error, CustomStringConvertible, Sendable {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Reads what `ByteWriter` writes, from untrusted input.
///
/// Every read checks the remaining length first and throws instead of
/// trapping; lengths and counts are checked against their limit and against
/// the bytes actually left before anything is allocated, so a hostile length
/// field cannot make the reader reserve memory the frame does not back.
public struct ByteReader: Sendable {
    private let input: ArraySlice<UInt8>
    private var index: Int

    public init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    public init(_ bytes: ArraySlice<UInt8>) {
        input = bytes
        index = bytes.startIndex
    }

    /// Bytes not yet read.
    public var remaining: Int { input.endIndex - index }

    public var isAtEnd: Bool { index == input.endIndex }

    public mutating func u8() throws(DecodeError) -> UInt8 {
        guard index < input.endIndex else { throw DecodeError("unexpected end of data") }
        defer { index += 1 }
        return input[index]
    }

    public mutating func u16() throws(DecodeError) -> UInt16 { try fixed() }

    public mutating func u32() throws(DecodeError) -> UInt32 { try fixed() }

    public mutating func u64() throws(DecodeError) -> UInt64 { try fixed() }

    /// An unsigned LEB128 value of at most 10 bytes. Overflowing and
    /// non-minimal encodings are rejected, so each value has one encoding.
    public mutating func varint() throws(DecodeError) -> UInt64 {
        var value: UInt64 = 0
        for n in 0..<10 {
            let b = try u8()
            let payload = UInt64(b & 0x7F)
            if n == 9 && payload > 1 { throw DecodeError("varint overflows 64 bits") }
            value |= payload << UInt64(7 * n)
            if b & 0x80 == 0 {
                if n > 0 && payload == 0 { throw DecodeError("non-minimal varint") }
                return value
            }
        }
        throw DecodeError("varint longer than 10 bytes")
    }

    /// A length-prefixed UTF-8 string of at most `maxBytes` bytes.
    public mutating func string(maxBytes: Int) throws(DecodeError) -> String {
        let raw = try lengthPrefixed(maxBytes: maxBytes)
        guard let s = String(validating: raw, as: UTF8.self) else { throw DecodeError("invalid UTF-8 in string") }
        return s
    }

    /// A length-prefixed byte string of at most `maxBytes` bytes.
    public mutating func bytes(maxBytes: Int) throws(DecodeError) -> [UInt8] {
        Array(try lengthPrefixed(maxBytes: maxBytes))
    }

    /// A varint of at most `max`: values a peer may send but the core never
    /// makes (such as a generation beyond `Int64.max`) are refused here, where
    /// they are decoded, so no later conversion or increment can trap on them.
    public mutating func varint(max: UInt64) throws(DecodeError) -> UInt64 {
        let v = try varint()
        guard v <= max else { throw DecodeError("value \(v) exceeds limit \(max)") }
        return v
    }

    /// A varint element count, at most `max` and at most the bytes remaining
    /// (every element takes at least one byte), so callers may loop over it safely.
    public mutating func count(max: Int) throws(DecodeError) -> Int {
        let n = try varint()
        guard let limit = UInt64(exactly: max), n <= limit else { throw DecodeError("count \(n) exceeds limit \(max)") }
        guard n <= UInt64(remaining) else { throw DecodeError("count \(n) exceeds the \(remaining) bytes left") }
        return Int(n)
    }

    private mutating func lengthPrefixed(maxBytes: Int) throws(DecodeError) -> ArraySlice<UInt8> {
        let n = try varint()
        guard let limit = UInt64(exactly: maxBytes), n <= limit else { throw DecodeError("length \(n) exceeds limit \(maxBytes)") }
        guard n <= UInt64(remaining) else { throw DecodeError("length \(n) exceeds the \(remaining) bytes left") }
        let start = index
        index += Int(n)
        return input[start..<index]
    }

    private mutating func fixed<T: FixedWidthInteger>() throws(DecodeError) -> T {
        let width = T.bitWidth / 8
        guard remaining >= width else { throw DecodeError("unexpected end of data") }
        var v: T = 0
        for b in input[index..<index + width] { v = v << 8 | T(b) }
        index += width
        return v
    }
}
