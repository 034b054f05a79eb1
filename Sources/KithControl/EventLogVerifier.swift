import KithCrypto
import KithJSON

/// The outcome of checking an event log: how far it is intact, and for a
/// broken one the first record that fails and why.
public struct Verification: Sendable, Equatable, CustomStringConvertible {
    /// Why a record fails verification.
    public enum Problem: String, Sendable {
        /// The public key given to check against is not 32 bytes of hex.
        case badKey = "bad public key"
        /// A line that is not JSON, other than a torn last line.
        case unparsable = "unparsable line"
        /// JSON, but not an object with the record fields of the right types.
        case malformed = "malformed record"
        /// The record's content does not hash to its `hash`: it was edited.
        case badHash = "bad hash"
        /// `sig` is not the key's signature of `hash`: edited and re-hashed, or another writer.
        case badSignature = "bad signature"
        /// `prev` is not the previous record's `hash`: records were removed, reordered or inserted.
        case brokenChain = "broken chain"
        /// The chain links but `seq` does not count up by one.
        case seqGap = "seq gap"
        /// The first record is not seq 1 with an empty `prev`: the head was cut off.
        case missingHead = "missing head"
    }

    /// The first record that fails.
    public struct Failure: Sendable, Equatable {
        /// 1-based index into the lines given (blank lines count).
        public let line: Int
        /// The record's `seq` when it has one.
        public let seq: Int64?
        public let problem: Problem
        /// Specifics, e.g. which field is missing or what was expected.
        public let detail: String
    }

    /// Records that verified, up to the failure if there is one.
    public internal(set) var records = 0
    public internal(set) var firstSeq: Int64?
    public internal(set) var lastSeq: Int64?
    /// The `hash` of the last good record: the head of the chain, to compare with what the node reports.
    public internal(set) var lastHash: String?
    /// The last line was cut short, as a crash in the middle of an append leaves it; not a failure.
    public internal(set) var tornTail = false
    public internal(set) var failure: Failure?

    public var ok: Bool { failure == nil }

    public var description: String {
        let range = firstSeq.map { first in " (seq \(first)...\(lastSeq ?? first))" } ?? ""
        let torn = tornTail ? ", torn last line ignored" : ""
        guard let failure else { return "ok: \(records) records\(range)\(torn)" }
        let seq = failure.seq.map { " (seq \($0))" } ?? ""
        return "broken at line \(failure.line)\(seq): \(failure.problem.rawValue): \(failure.detail); \(records) records before it verified"
    }

    /// For control replies and `kithctl --json`.
    public var json: JSON {
        var out: [String: JSON] = ["ok": .bool(ok), "records": .int(Int64(records)), "torn_tail": .bool(tornTail)]
        out["first_seq"] = firstSeq.map(JSON.int) ?? .null
        out["last_seq"] = lastSeq.map(JSON.int) ?? .null
        out["last_hash"] = lastHash.map(JSON.string) ?? .null
        if let failure {
            out["failure"] = [
                "line": .int(Int64(failure.line)), "seq": failure.seq.map(JSON.int) ?? .null,
                "problem": .string(failure.problem.rawValue), "detail": .string(failure.detail),
            ]
        }
        return .object(out)
    }
}

/// Checks event-log lines against a node's public key. Pure: no file or
/// network IO, so `kithctl` can check what nodes send it and tests can check
/// edited copies.
public enum EventLogVerifier {
    /// The log's file in a node's data directory; a client reads it directly when the daemon is gone.
    public static let fileName = "events.jsonl"

    /// Checks every record and stops at the first that fails.
    ///
    /// Per record, in order: it parses (an unparsable *last* line is a torn
    /// append and only sets `tornTail`), it has the record fields, its content
    /// hashes to `hash`, `sig` signs `hash`, `prev` is the previous `hash`, and
    /// `seq` counts up by one. Blank lines are skipped. With `allowPartial`
    /// the lines may be a window that starts mid-log (e.g. the newest N
    /// records); otherwise the first record must be seq 1 with `prev` "".
    public static func verify(lines: [String], publicKeyHex: String, allowPartial: Bool = false) -> Verification {
        var result = Verification()
        guard let publicKey = Hex.decode(publicKeyHex), publicKey.count == 32 else {
            result.failure = .init(line: 0, seq: nil, problem: .badKey, detail: "expected 64 hex digits")
            return result
        }
        let lastContentLine = lines.lastIndex { !isBlank($0) }
        var previous: (seq: Int64, hash: String)?
        for (index, line) in lines.enumerated() where !isBlank(line) {
            let lineNumber = index + 1
            func fail(_ problem: Verification.Problem, _ seq: Int64?, _ detail: String) -> Verification {
                result.failure = .init(line: lineNumber, seq: seq, problem: problem, detail: detail)
                return result
            }
            let parsed: JSON
            do {
                parsed = try JSON.parse(line)
            } catch {
                if index == lastContentLine {
                    result.tornTail = true
                    return result
                }
                return fail(.unparsable, nil, error.description)
            }
            let record: EventRecordFields
            switch EventRecordFields.from(parsed) {
            case .success(let fields): record = fields
            case .failure(let problem): return fail(.malformed, parsed["seq"]?.intValue, problem.detail)
            }
            let seq = record.seq
            let computed = Digest.sha256(canonicalBody(record.members))
            guard Hex.encode(computed) == record.hash else {
                return fail(.badHash, seq, "content hashes to \(Hex.encode(computed)), record says \(record.hash)")
            }
            guard let signature = Hex.decode(record.sig),
                  Ed25519.verify(signature: signature, message: computed, publicKey: publicKey) else {
                return fail(.badSignature, seq, "sig is not this key's signature of the hash")
            }
            if let previous {
                guard record.prev == previous.hash else {
                    return fail(.brokenChain, seq, "prev is \(short(record.prev)), previous record (seq \(previous.seq)) has hash \(short(previous.hash))")
                }
                guard seq == previous.seq + 1 else {
                    return fail(.seqGap, seq, "expected seq \(previous.seq + 1)")
                }
            } else if !allowPartial {
                guard seq == 1 else { return fail(.missingHead, seq, "the log starts at seq \(seq), not 1") }
                guard record.prev.isEmpty else { return fail(.brokenChain, seq, "the first record's prev must be empty") }
            }
            previous = (seq, record.hash)
            result.records += 1
            result.firstSeq = result.firstSeq ?? seq
            result.lastSeq = seq
            result.lastHash = record.hash
        }
        return result
    }

    /// Verifies a whole file's text, split at "\n" bytes (not Characters, for which "\r\n" is one).
    public static func verify(text: String, publicKeyHex: String, allowPartial: Bool = false) -> Verification {
        let lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        return verify(lines: lines, publicKeyHex: publicKeyHex, allowPartial: allowPartial)
    }

    /// The bytes a record's `hash` is the SHA-256 of: the record without `hash`
    /// and `sig`, serialized compactly with sorted keys (KithCore's `JSON.serialized()`).
    package static func canonicalBody(_ members: [String: JSON]) -> [UInt8] {
        var body = members
        body["hash"] = nil
        body["sig"] = nil
        return Array(JSON.object(body).serialized().utf8)
    }

    private static func isBlank(_ line: String) -> Bool {
        line.utf8.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }

    private static func short(_ hash: String) -> String {
        hash.isEmpty ? "\"\"" : String(hash.prefix(16)) + "…"
    }
}

/// The fields every record has, checked for type.
package struct EventRecordFields {
    package struct Problem: Error { let detail: String }

    package let members: [String: JSON]
    package let seq: Int64
    package let tsMs: Int64
    package let prev: String
    package let hash: String
    package let sig: String

    package static func from(_ json: JSON) -> Result<EventRecordFields, Problem> {
        guard case .object(let members) = json else { return .failure(Problem(detail: "not a JSON object")) }
        func int(_ key: String) throws(Problem) -> Int64 {
            guard case .int(let value)? = members[key] else { throw Problem(detail: "\"\(key)\" must be an integer") }
            return value
        }
        func string(_ key: String) throws(Problem) -> String {
            guard case .string(let value)? = members[key] else { throw Problem(detail: "\"\(key)\" must be a string") }
            return value
        }
        do throws(Problem) {
            _ = try string("node")
            _ = try string("event")
            return .success(EventRecordFields(members: members, seq: try int("seq"), tsMs: try int("ts_ms"),
                                              prev: try string("prev"), hash: try string("hash"), sig: try string("sig")))
        } catch {
            return .failure(error)
        }
    }
}
