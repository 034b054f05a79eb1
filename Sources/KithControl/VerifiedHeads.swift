#if canImport(Glibc)
import Glibc
#endif
import KithCrypto
import KithJSON

/// Where a node's log stood when it last verified: its newest `seq` and that
/// record's `hash`.
///
/// A log verifies on its own terms even after its tail was cut off, and the
/// daemon restarted on the cut log reports the shorter head as its own; only
/// a head remembered from an earlier verification shows that records were lost.
public struct VerifiedHead: Sendable, Equatable {
    public var seq: Int64
    public var hash: String

    public init(seq: Int64, hash: String) {
        self.seq = seq
        self.hash = hash
    }

    /// How a log that verified now contradicts this earlier head.
    public struct Regression: Sendable, Equatable {
        /// The first record lost or rewritten.
        public let seq: Int64
        public let detail: String
    }

    /// Why `lines`, which verified as `verification`, cannot be the log this head
    /// was taken from, or nil when they extend it (or start after it, a window
    /// that cannot show the old head). Shorter: the log ends before `seq`.
    /// Different: its record at `seq` has another hash.
    public func regression(lines: [String], verification: Verification) -> Regression? {
        let last = verification.lastSeq ?? 0
        guard last >= seq else {
            return Regression(seq: last + 1, detail: "the log ends at seq \(last), but it verified up to seq \(seq)"
                + " (hash \(hash.prefix(16))…) before: records \(last + 1)...\(seq) were cut off")
        }
        guard let first = verification.firstSeq, first <= seq else { return nil }
        for line in lines.reversed() {
            guard let record = try? JSON.parse(line), let recordSeq = record["seq"]?.intValue else { continue }
            if recordSeq > seq { continue }
            guard recordSeq == seq else { break }
            let now = record["hash"]?.stringValue ?? ""
            guard now == hash else {
                return Regression(seq: seq, detail: "the record at seq \(seq) has hash \(now.prefix(16))…, but hash"
                    + " \(hash.prefix(16))… verified there before: the log was rewritten from there on")
            }
            return nil
        }
        return Regression(seq: seq, detail: "the record at seq \(seq), verified before, is not in the log")
    }
}

/// The heads `kithctl events verify` remembers, one small file per node key
/// under `directory` (`~/.config/kith/verified/<public key>.json`).
///
/// Keyed by the node's event-log public key rather than by node or lab name:
/// the key names exactly one log (it lives in the log's data directory), so two
/// clusters that both have an `n1`, or a fresh lab reusing names, never share
/// a head, and a deployed cluster without a lab record is covered alike.
public struct VerifiedHeadStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// The file of the node whose key is `publicKeyHex` (64 hex digits, else nil: never a path from a reply).
    func path(publicKeyHex: String) -> String? {
        guard publicKeyHex.utf8.count == 64, let bytes = Hex.decode(publicKeyHex), bytes.count == 32 else { return nil }
        return "\(directory)/\(Hex.encode(bytes)).json"
    }

    /// The head verified before, nil when this key never verified; a file that is not a head fails.
    public func load(publicKeyHex: String) throws(KeyFileError) -> VerifiedHead? {
        guard let path = path(publicKeyHex: publicKeyHex) else { return nil }
        let text: String
        do { text = try KeyFile.read(path) } catch where error.isMissing { return nil }
        guard let json = try? JSON.parse(text), let seq = json["seq"]?.intValue, seq >= 0, let hash = json["hash"]?.stringValue else {
            throw KeyFileError(path: path, action: "load", reason: "not a verified head ({\"seq\":N,\"hash\":...}); fix or remove it")
        }
        return VerifiedHead(seq: seq, hash: hash)
    }

    /// Remembers `head` for the key (0600, replaced atomically); `node` is kept for people reading the file.
    public func save(_ head: VerifiedHead, publicKeyHex: String, node: String) throws(KeyFileError) {
        guard let path = path(publicKeyHex: publicKeyHex) else { return }
        var prefix = directory.hasPrefix("/") ? "/" : ""
        for part in directory.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o700) != 0, errno != EEXIST {
                throw KeyFileError(path: path, action: "create the directory of", code: errno,
                                   reason: String(cString: strerror(errno)).lowercased())
            }
        }
        let json: JSON = ["node": .string(node), "seq": .int(head.seq), "hash": .string(head.hash)]
        try KeyFile.write(json.serialized() + "\n", to: path)
    }
}
