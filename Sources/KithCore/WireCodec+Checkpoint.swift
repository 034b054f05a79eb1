/// A checkpoint offered in answer to a fetch (type 15, after `from` and the
/// agent's name): a flag byte (0 none, 1 held), then `generation` and `seq`
/// (≤ `counterMax`, seq ≥ 1), the data (≤ `maxCheckpointBytes`), the host's
/// name (≤ `maxStringBytes`) and its signature (≤ `nodeSignatureBytesMax`).
/// A fetch (type 14) is `from` and the agent's name.
extension WireCodec {
    static func write(_ checkpoint: Checkpoint?, to w: inout ByteWriter) {
        guard let checkpoint else { return w.u8(0) }
        assert(!w.checksLimits || checkpoint.seq >= 1, "an offered checkpoint with seq 0")
        w.u8(1)
        w.varint(checkpoint.generation, max: counterMax)
        w.varint(checkpoint.seq, max: counterMax)
        w.bytes(checkpoint.data, maxBytes: maxCheckpointBytes)
        w.string(checkpoint.host, maxBytes: maxStringBytes)
        w.bytes(checkpoint.signature, maxBytes: nodeSignatureBytesMax)
    }

    static func readCheckpoint(_ r: inout ByteReader) throws(DecodeError) -> Checkpoint? {
        let flag = try r.u8()
        guard flag <= 1 else { throw DecodeError("bad checkpoint flag \(flag)") }
        guard flag == 1 else { return nil }
        let generation = try r.varint(max: counterMax)
        let seq = try r.varint(max: counterMax)
        guard seq >= 1 else { throw DecodeError("offered checkpoint seq 0") }
        return Checkpoint(generation: generation, seq: seq, data: try r.bytes(maxBytes: maxCheckpointBytes),
                          host: try readString(&r), signature: try r.bytes(maxBytes: nodeSignatureBytesMax))
    }
}
