import KithCore

/// Several payloads for one peer in one frame, so the per-frame costs (the
/// length prefix, the session header and its MAC: 28 bytes on a probe of 40)
/// are paid once per burst. What one loop turn sends to a peer (an agent's
/// checkpoint and its pings, the replies to a peer's burst) leaves as one batch.
///
/// Layout: `[0xAC]` then each payload as a varint length (1 or more) and its
/// bytes, to the end of the frame. The marker is never a codec version, so a
/// frame is a batch or a single payload, and a batch never nests.
enum FrameBatch {
    static let marker: UInt8 = 0xAC
    /// A batch stays this small, so one large burst does not hold up the next frame for long.
    static let bytesMax = 64 << 10

    /// One payload as is; several as a batch.
    static func encode(_ payloads: [[UInt8]]) -> [UInt8] {
        precondition(!payloads.isEmpty, "an empty batch")
        if payloads.count == 1 { return payloads[0] }
        var w = ByteWriter()
        w.u8(marker)
        for payload in payloads { w.bytes(payload, maxBytes: WireCodec.maxFrameBytes) }
        return w.bytes
    }

    /// The payloads a frame carries: itself unless it is a batch; nil for a malformed batch
    /// (an empty payload, a length past the end, or nothing in it).
    static func split(_ frame: ArraySlice<UInt8>) -> [ArraySlice<UInt8>]? {
        guard frame.first == marker else { return [frame] }
        var r = ByteReader(frame.dropFirst())
        var payloads: [ArraySlice<UInt8>] = []
        while !r.isAtEnd {
            guard let payload = try? r.bytes(maxBytes: WireCodec.maxFrameBytes), !payload.isEmpty,
                  payload.first != marker else { return nil }
            payloads.append(payload[...])
        }
        return payloads.isEmpty ? nil : payloads
    }

    /// What a payload adds to a batch: its length varint (at most 3 bytes below 2 MiB) and its bytes.
    static func cost(of payload: [UInt8]) -> Int { payload.count + 4 }
}
