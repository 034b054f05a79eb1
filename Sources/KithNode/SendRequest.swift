import KithCore

/// An agent's `send` line read without building its JSON tree: the hot path
/// of agent messages, where parsing the line and printing the payload again
/// cost the sending daemon more than routing it.
///
/// Only the plain form is read here: an object with exactly the members `op`
/// (`"send"`), `to` (an ASCII string without escapes), `payload` (in the form
/// `JSON.copyCompact` copies) and optionally `id` (an integer, or an ASCII
/// string without escapes), each once. Any other line, valid or not, is left to
/// the full parser, so both paths answer alike: `payload` is the text
/// `JSON.serialized()` would print for the parsed value.
struct SendRequest {
    var id: JSON?
    var to: String
    var payload: [UInt8]

    init(id: JSON?, to: String, payload: [UInt8]) {
        self.id = id
        self.to = to
        self.payload = payload
    }

    init?(line: [UInt8]) {
        let parsed = line.withUnsafeBufferPointer { SendRequest.read($0) }
        guard let parsed else { return nil }
        self = parsed
    }

    private static func read(_ bytes: UnsafeBufferPointer<UInt8>) -> SendRequest? {
        var pos = 0
        func skipWhitespace() {
            while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x09 || bytes[pos] == 0x0D || bytes[pos] == 0x0A { pos += 1 }
        }
        /// A string without escapes or non-ASCII bytes: the range of its text.
        func plainString() -> Range<Int>? {
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { return nil }
            let start = pos + 1
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\"") {
                guard bytes[end] >= 0x20, bytes[end] <= 0x7E, bytes[end] != UInt8(ascii: "\\") else { return nil }
                end += 1
            }
            guard end < bytes.count else { return nil }
            pos = end + 1
            return start..<end
        }
        func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        func equals(_ range: Range<Int>, _ word: StaticString) -> Bool {
            word.withUTF8Buffer { expected in
                expected.count == range.count && (0..<range.count).allSatisfy { bytes[range.lowerBound + $0] == expected[$0] }
            }
        }

        /// An `id` as the parser would read it: a plain string, or an integer `JSON.copyCompact` copies.
        func plainID() -> JSON? {
            if let range = plainString() { return .string(text(range)) }
            var digits: [UInt8] = []
            guard pos < bytes.count, bytes[pos] != UInt8(ascii: "\""), bytes[pos] != UInt8(ascii: "{"),
                  bytes[pos] != UInt8(ascii: "["), let end = JSON.copyCompact(bytes, from: pos, to: &digits),
                  let value = Int64(String(decoding: digits, as: UTF8.self)) else { return nil }
            pos = end
            return .int(value)
        }

        skipWhitespace()
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: "{") else { return nil }
        pos += 1
        var sawOp = false
        var id: JSON?
        var to: String?
        var payload: [UInt8]?
        while true {
            skipWhitespace()
            guard let key = plainString() else { return nil }
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { return nil }
            pos += 1
            skipWhitespace()
            if equals(key, "op") {
                guard !sawOp, let op = plainString(), equals(op, "send") else { return nil }
                sawOp = true
            } else if equals(key, "to") {
                guard to == nil, let name = plainString() else { return nil }
                to = text(name)
            } else if equals(key, "payload") {
                guard payload == nil else { return nil }
                var copied: [UInt8] = []
                copied.reserveCapacity(min(bytes.count - pos, WireCodec.maxAgentPayloadBytes + 1))
                guard let end = JSON.copyCompact(bytes, from: pos, to: &copied) else { return nil }
                pos = end
                payload = copied
            } else if equals(key, "id") {
                guard id == nil else { return nil }
                id = plainID()
                guard id != nil else { return nil }
            } else {
                return nil
            }
            skipWhitespace()
            guard pos < bytes.count else { return nil }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            guard bytes[pos] == UInt8(ascii: "}") else { return nil }
            pos += 1
            break
        }
        skipWhitespace()
        guard pos == bytes.count, sawOp, let to, let payload else { return nil }
        return SendRequest(id: id, to: to, payload: payload)
    }
}
