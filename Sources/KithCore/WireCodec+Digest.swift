/// The anti-entropy digest's parts of the wire format (`Message.agentDigest`).
///
/// Record stamps: a count (≤ `maxAgentRecords`), then per record its `name`
/// (≤ `maxAgentNameBytes`), `generation` and `version` varints (each at most
/// `counterMax`), `state` (one byte, as in a record), `host` and `updatedBy`
/// strings (≤ `maxStringBytes`). Tombstone stamps: a count (≤
/// `maxAgentRecords`), then per tombstone its `agent` name, `epoch` varint
/// (≤ `counterMax`) and `kind` byte (as in a tombstone). Names are strictly
/// ascending in each list (no duplicates), which keeps decoding canonical.
extension WireCodec {
    // MARK: Encoding

    static func write(_ digests: [RecordDigest], to w: inout ByteWriter) {
        assert(!w.checksLimits || isStrictlyAscending(digests.map(\.name)), "record digests not in ascending name order")
        w.count(digests.count, max: maxAgentRecords)
        for digest in digests {
            w.string(digest.name, maxBytes: maxAgentNameBytes)
            w.varint(digest.generation, max: counterMax)
            w.varint(digest.version, max: counterMax)
            w.u8(byte(digest.state))
            w.string(digest.host, maxBytes: maxStringBytes)
            w.string(digest.updatedBy, maxBytes: maxStringBytes)
        }
    }

    static func write(_ digests: [TombstoneDigest], to w: inout ByteWriter) {
        assert(!w.checksLimits || isStrictlyAscending(digests.map(\.agent)), "tombstone digests not in ascending agent order")
        w.count(digests.count, max: maxAgentRecords)
        for digest in digests {
            w.string(digest.agent, maxBytes: maxAgentNameBytes)
            w.varint(digest.epoch, max: counterMax)
            w.u8(digest.kind.rawValue)
        }
    }

    static func isStrictlyAscending(_ names: [String]) -> Bool {
        zip(names, names.dropFirst()).allSatisfy { $0 < $1 }
    }

    // MARK: Decoding

    static func readRecordDigests(_ r: inout ByteReader) throws(DecodeError) -> [RecordDigest] {
        var digests: [RecordDigest] = []
        for _ in 0..<(try r.count(max: maxAgentRecords)) {
            let name = try readAgentName(&r)
            if let previous = digests.last, !(previous.name < name) {
                throw DecodeError("record digests not in ascending name order")
            }
            digests.append(RecordDigest(name: name, generation: try r.varint(max: counterMax),
                                        version: try r.varint(max: counterMax), state: try readAgentState(&r),
                                        host: try readString(&r), updatedBy: try readString(&r)))
        }
        return digests
    }

    static func readTombstoneDigests(_ r: inout ByteReader) throws(DecodeError) -> [TombstoneDigest] {
        var digests: [TombstoneDigest] = []
        for _ in 0..<(try r.count(max: maxAgentRecords)) {
            let agent = try readAgentName(&r)
            if let previous = digests.last, !(previous.agent < agent) {
                throw DecodeError("tombstone digests not in ascending agent order")
            }
            let epoch = try r.varint(max: counterMax)
            let raw = try r.u8()
            guard let kind = Tombstone.Kind(rawValue: raw) else { throw DecodeError("bad tombstone kind \(raw)") }
            digests.append(TombstoneDigest(agent: agent, epoch: epoch, kind: kind))
        }
        return digests
    }
}
