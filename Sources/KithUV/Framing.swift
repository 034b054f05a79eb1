/// How a TCP byte stream is cut into messages. Both kinds carry a bound so a peer can never make
/// us buffer an unbounded amount of memory: exceeding it closes the connection as `.framingViolation`.
public enum Framing: Sendable {
    /// A 4-byte big-endian payload length, then the payload; lengths above `maxFrameBytes` are rejected
    /// before any memory is reserved for them. Empty payloads are allowed.
    case lengthPrefixed(maxFrameBytes: Int)
    /// Newline-terminated lines; the '\n' is stripped on read and appended by `send`.
    case lines(maxLineBytes: Int)
    /// No framing: each read's bytes (at most 64 KiB) are delivered as they come and payloads leave
    /// verbatim, for protocols parsed by their owner (HTTP), which must bound what it keeps.
    case raw

    /// Bytes `payload` occupies on the wire, or nil if this framing cannot carry it
    /// (a line containing '\n', a payload whose length does not fit the 4-byte prefix).
    func wireSize(of payload: [UInt8]) -> Int? {
        switch self {
        case .lengthPrefixed:
            payload.count <= Int(UInt32.max) ? 4 + payload.count : nil
        case .lines:
            payload.contains(newline) ? nil : payload.count + 1
        case .raw:
            payload.count
        }
    }

    /// Writes the framed `payload` into `buffer`, which holds exactly `wireSize(of: payload)` bytes.
    func encode(_ payload: [UInt8], into buffer: UnsafeMutableRawBufferPointer) {
        switch self {
        case .lengthPrefixed:
            buffer.storeBytes(of: UInt32(payload.count).bigEndian, as: UInt32.self)
            UnsafeMutableRawBufferPointer(rebasing: buffer[4...]).copyBytes(from: payload)
        case .lines:
            buffer.copyBytes(from: payload)
            buffer[payload.count] = newline
        case .raw:
            buffer.copyBytes(from: payload)
        }
    }
}

let newline = UInt8(ascii: "\n")
