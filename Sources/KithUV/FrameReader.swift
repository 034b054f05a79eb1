/// Cuts incoming bytes into frames. It holds at most one incomplete frame, so its memory never exceeds
/// the framing's bound (plus the 4-byte prefix) whatever the peer sends; and it reserves memory only for
/// bytes that have arrived (growing geometrically), so a peer that announces a large frame and sends a
/// few bytes of it costs a few bytes, not the bound.
struct FrameReader {
    let framing: Framing
    /// The bytes of a frame that started in an earlier chunk.
    private var partial: [UInt8] = []

    /// Bytes reserved for the incomplete frame (its prefix included), for tests and memory accounting.
    var partialCapacity: Int { partial.capacity }

    init(framing: Framing) {
        self.framing = framing
    }

    /// The frames `chunk` completes, in order. A non-nil `violation` means the stream is unusable from
    /// that point on; the frames before it are still valid.
    mutating func feed(_ chunk: UnsafeRawBufferPointer) -> (frames: [[UInt8]], violation: String?) {
        switch framing {
        case .lengthPrefixed(let maxFrameBytes): feedLengthPrefixed(chunk[...], maxFrameBytes: maxFrameBytes)
        case .lines(let maxLineBytes): feedLines(chunk[...], maxLineBytes: maxLineBytes)
        case .raw: (chunk.isEmpty ? [] : [Array(chunk)], nil)
        }
    }

    private mutating func feedLengthPrefixed(
        _ chunk: Slice<UnsafeRawBufferPointer>, maxFrameBytes: Int
    ) -> (frames: [[UInt8]], violation: String?) {
        var frames: [[UInt8]] = []
        var rest = chunk
        while !rest.isEmpty {
            if partial.count < 4 {
                let headerBytes = rest.prefix(4 - partial.count)
                partial.append(contentsOf: headerBytes)
                rest = rest.dropFirst(headerBytes.count)
                if partial.count < 4 { break }
            }
            let length = partial[0..<4].reduce(0) { $0 << 8 | Int($1) }
            guard length <= maxFrameBytes else {
                return (frames, "frame of \(length) bytes exceeds the limit of \(maxFrameBytes)")
            }
            if partial.count == 4, rest.count >= length {
                // The whole payload is in this chunk: slice it out without going through `partial`.
                frames.append(Array(rest.prefix(length)))
                rest = rest.dropFirst(length)
                partial.removeAll(keepingCapacity: true)
                continue
            }
            let payloadBytes = rest.prefix(4 + length - partial.count)
            reserve(payloadBytes.count, upTo: 4 + length)
            partial.append(contentsOf: payloadBytes)
            rest = rest.dropFirst(payloadBytes.count)
            if partial.count == 4 + length {
                frames.append(Array(partial[4...]))
                partial = []
            }
        }
        return (frames, nil)
    }

    private mutating func feedLines(
        _ chunk: Slice<UnsafeRawBufferPointer>, maxLineBytes: Int
    ) -> (frames: [[UInt8]], violation: String?) {
        var frames: [[UInt8]] = []
        var rest = chunk
        while !rest.isEmpty {
            let end = rest.firstIndex(of: newline) ?? rest.endIndex
            let lineLength = partial.count + (end - rest.startIndex)
            guard lineLength <= maxLineBytes else {
                return (frames, "line of more than \(maxLineBytes) bytes")
            }
            guard end < rest.endIndex else {
                reserve(rest.count, upTo: maxLineBytes)
                partial.append(contentsOf: rest)
                break
            }
            if partial.isEmpty {
                frames.append(Array(rest[..<end]))
            } else {
                partial.append(contentsOf: rest[..<end])
                frames.append(partial)
                partial = []
            }
            rest = rest[(end + 1)...]
        }
        return (frames, nil)
    }

    /// Makes room for `count` more bytes in `partial`: at least double the current capacity (so appends
    /// stay amortised O(1)), never more than `limit`, the most the frame can need.
    private mutating func reserve(_ count: Int, upTo limit: Int) {
        let needed = partial.count + count
        guard needed > partial.capacity else { return }
        partial.reserveCapacity(min(limit, max(needed, 2 * partial.capacity)))
    }
}
