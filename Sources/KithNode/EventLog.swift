#if canImport(Glibc)
import Glibc
#endif
import KithControl
import KithCore
import KithCrypto

/// Why the event log could not be opened.
public struct EventLogError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The node's ground truth: what it did and saw, as a hash-chained,
/// signed JSON-lines file, `DATA/events.jsonl`.
///
/// Each line is one record: `seq` (1, 2, ...), `ts_ms`, `node`, `event`, the
/// event's own fields, `prev` (the previous record's `hash`, "" for the
/// first), `hash` (hex SHA-256 of the record without `hash` and `sig`,
/// serialized by `JSON.serialized()`: compact, keys sorted) and `sig` (hex
/// Ed25519 signature of the 32 raw hash bytes by `DATA/node.key`). Editing,
/// dropping or reordering any record breaks the chain from there on; only
/// the holder of the node key can write records that verify.
///
/// Durability: each append is one `write(2)` on an `O_APPEND` descriptor, which
/// survives a crash of this process (the page cache holds it). It is not
/// fsynced unless `syncEachAppend` is set, since that costs milliseconds on the
/// loop thread per event; a power loss can therefore drop or tear the newest
/// records. A torn last line is repaired at the next start (see `init`).
///
/// One writer per file: `init` takes an exclusive `flock`, so a second daemon
/// on the same data dir fails to start instead of interleaving chains. Use
/// from one thread (the loop thread).
public final class EventLog {
    public static let fileName = EventLogVerifier.fileName
    /// The largest torn fragment quoted in a `log_recovered` record.
    static let maxQuotedTornBytes = 4096
    /// Record fields an event's own fields cannot override.
    public static let reservedFields: Set<String> = ["seq", "ts_ms", "node", "event", "prev", "hash", "sig"]

    public let path: String
    public let node: String
    /// The hex Ed25519 public key that verifies this log (`EventLogVerifier`).
    public let publicKeyHex: String
    /// True when this start generated `DATA/node.key`.
    public let keyWasCreated: Bool
    /// The `seq` of the newest record, 0 for an empty log.
    public private(set) var lastSeq: Int64 = 0
    /// The `hash` of the newest record, "" for an empty log.
    public private(set) var lastHash = ""
    /// What opening had to repair (a torn last line, a foreign key), for the
    /// daemon to log; nil when the file was clean.
    public private(set) var recoveryNote: String?
    /// Appends that could not be written (disk full, IO error); each is also reported to `onError`.
    public private(set) var writeFailures = 0
    /// Called with a readable reason when an append fails; the record is then not part of the chain.
    public var onError: ((String) -> Void)?
    /// fsync after every append, for power-loss durability at the cost of latency.
    public var syncEachAppend = false

    private let key: SigningKey
    private(set) var fd: Int32
    /// Set when a failed append may have left a partial line that could not be cut off again.
    private var needsTailRepair = false

    /// Opens (creating if needed) `directory/events.jsonl` and continues its
    /// chain; loads `directory/node.key`, creating it (0600) on first start,
    /// unless `key` is given.
    ///
    /// A crash mid-append can leave a last line without its newline. If that
    /// line is nevertheless a whole record of this key, its newline is added.
    /// Otherwise the fragment is cut off and a `log_recovered` record quoting it
    /// (`torn_bytes`, `torn_sha256`, `torn_text`) continues the chain from the
    /// last good record, so the log verifies again. Damage anywhere else is left
    /// in place for the verifier to find. If the newest record is intact but
    /// signed by another key (node.key was replaced), the old file is moved to
    /// `events-before-<ms>.jsonl` and a new chain starts.
    public init(directory: String, node: String, key: SigningKey? = nil) throws(EventLogError) {
        self.node = node
        path = "\(directory)/\(Self.fileName)"
        if let problem = makeDirectory(directory, mode: 0o700) { throw EventLogError("cannot create \(directory): \(problem)") }
        fd = try Self.openLocked(path)
        do {
            if let key {
                self.key = key
                keyWasCreated = false
            } else {
                (self.key, keyWasCreated) = try NodeIdentity.loadOrCreate(path: "\(directory)/\(NodeIdentity.fileName)")
            }
        } catch {
            Glibc.close(fd)
            throw EventLogError(error.description)
        }
        publicKeyHex = Hex.encode(self.key.publicKey)
        try recover()  // on failure deinit closes the descriptor: every stored property is set by now
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// The message in a box sealed to this log's key (`SealedBox`), or nil: how secrets sent
    /// to the node, such as cluster keys, are opened without the secret key leaving the log.
    func openSealed(_ sealed: [UInt8]) -> [UInt8]? {
        key.openSealed(sealed)
    }

    /// Releases the file and its lock; later appends fail and reads return nothing.
    public func close() {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }

    /// Appends one signed record and returns it, or nil if it could not be
    /// written (then `onError` has been told and the chain is unchanged).
    /// Fields named like record fields (`reservedFields`) are dropped.
    @discardableResult
    public func append(_ event: String, _ fields: [String: JSON] = [:], tsMs: Int64) -> JSON? {
        guard fd >= 0 else { return failed("event log \(path) is closed") }
        if needsTailRepair {
            do {
                try recover()
                needsTailRepair = false
            } catch {
                return failed(error.description)
            }
        }
        let record = sealed(event, fields, tsMs: tsMs, seq: lastSeq + 1, prev: lastHash)
        if let problem = writeLine(Array((record.serialized() + "\n").utf8)) {
            return failed("cannot append to \(path): \(problem)")
        }
        lastSeq += 1
        lastHash = record["hash"]?.stringValue ?? ""
        return record
    }

    /// The record with `hash` and `sig` added.
    private func sealed(_ event: String, _ fields: [String: JSON], tsMs: Int64, seq: Int64, prev: String) -> JSON {
        var members = fields.filter { !Self.reservedFields.contains($0.key) }
        members["seq"] = .int(seq)
        members["ts_ms"] = .int(tsMs)
        members["node"] = .string(node)
        members["event"] = .string(event)
        members["prev"] = .string(prev)
        let hash = Digest.sha256(EventLogVerifier.canonicalBody(members))
        members["hash"] = .string(Hex.encode(hash))
        members["sig"] = .string(Hex.encode(key.sign(hash)))
        return .object(members)
    }

    /// One `write(2)`; a short write (disk full, signal) is continued, and if
    /// the line still cannot be completed the partial bytes are cut off again
    /// so the next record does not land in the middle of a broken line.
    private func writeLine(_ bytes: [UInt8]) -> String? {
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let problem = count < 0 ? String(cString: strerror(errno)) : "wrote nothing"
                if written > 0 {
                    let size = fileSize()
                    if size < Int64(written) || ftruncate(fd, off_t(size - Int64(written))) != 0 { needsTailRepair = true }
                }
                return problem
            }
            written += count
        }
        if syncEachAppend && fdatasync(fd) != 0 { return "fdatasync: \(String(cString: strerror(errno)))" }
        return nil
    }

    private func failed(_ reason: String) -> JSON? {
        writeFailures += 1
        onError?(reason)
        return nil
    }

    private static func openLocked(_ path: String) throws(EventLogError) -> Int32 {
        // 0600 whatever the umask, and tightened if an older daemon left it readable: the log
        // names agents, commands and peers, which only the daemon's user should read.
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw EventLogError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard fchmod(fd, 0o600) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw EventLogError("cannot make \(path) 0600: \(String(cString: strerror(code)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            Glibc.close(fd)
            if code == EWOULDBLOCK { throw EventLogError("\(path) is in use by another process (another kithd on this data dir?)") }
            throw EventLogError("cannot lock \(path): \(String(cString: strerror(code)))")
        }
        return fd
    }
}

// MARK: - Recovery at open

extension EventLog {
    /// Finds the chain's head (`lastSeq`, `lastHash`) from the end of the file,
    /// repairing a torn last line as described at `init`.
    private func recover() throws(EventLogError) {
        var notes: [String] = []
        var reader = ReverseLineReader(fd: fd, end: fileSize())
        var line = reader.next()
        var torn: [UInt8]?
        if let tail = line, !tail.terminated {
            if let record = try? JSON.parse(bytes: tail.bytes), checks(record) == .valid {
                guard writeLine([UInt8(ascii: "\n")]) == nil else { throw EventLogError("cannot complete the last line of \(path)") }
                notes.append("the last record had no newline; added it")
                adopt(record)
                recoveryNote = notes.joined(separator: "; ")
                return
            }
            guard ftruncate(fd, off_t(tail.offset)) == 0 else {
                throw EventLogError("cannot cut the torn last line off \(path): \(String(cString: strerror(errno)))")
            }
            torn = tail.bytes
            notes.append("cut off a torn last line of \(tail.bytes.count) bytes at offset \(tail.offset)")
            line = reader.next()
        }
        var skipped = 0
        var head: JSON?
        while let current = line {
            if !current.bytes.isEmpty, let record = try? JSON.parse(bytes: current.bytes),
               case .success = EventRecordFields.from(record) {
                head = record
                break
            }
            if !current.bytes.isEmpty { skipped += 1 }
            line = reader.next()
        }
        if let code = reader.error { throw EventLogError("cannot read \(path): \(String(cString: strerror(code)))") }
        if skipped > 0 { notes.append("\(skipped) damaged line(s) at the end of the log were left for the verifier to report") }
        lastSeq = 0
        lastHash = ""
        if let head {
            switch checks(head) {
            case .valid:
                adopt(head)
            case .badHash:
                adopt(head)
                notes.append("the newest record (seq \(lastSeq)) does not match its hash: edited?")
            case .foreignSignature:
                let archive = try archiveForeignLog()
                notes.append("the log was signed by another key than node.key; moved it to \(archive) and started a new chain")
                torn = nil  // the fragment belongs to the archived chain
            }
        }
        if let torn {
            let quoted = String(decoding: torn.prefix(Self.maxQuotedTornBytes), as: UTF8.self)
            let record = sealed("log_recovered", [
                "torn_bytes": .int(Int64(torn.count)), "torn_sha256": .string(Hex.encode(Digest.sha256(torn))),
                "torn_text": .string(quoted),
            ], tsMs: ProcessStats.wallMilliseconds, seq: lastSeq + 1, prev: lastHash)
            if let problem = writeLine(Array((record.serialized() + "\n").utf8)) {
                throw EventLogError("cannot append to \(path): \(problem)")
            }
            adopt(record)
        }
        recoveryNote = notes.isEmpty ? nil : notes.joined(separator: "; ")
    }

    private enum Check { case valid, badHash, foreignSignature }

    /// Whether `record` is intact and signed by this node's key.
    private func checks(_ record: JSON) -> Check {
        guard case .success(let fields) = EventRecordFields.from(record) else { return .badHash }
        let hash = Digest.sha256(EventLogVerifier.canonicalBody(fields.members))
        guard Hex.encode(hash) == fields.hash else { return .badHash }
        guard let signature = Hex.decode(fields.sig),
              Ed25519.verify(signature: signature, message: hash, publicKey: key.publicKey) else { return .foreignSignature }
        return .valid
    }

    private func adopt(_ record: JSON) {
        lastSeq = record["seq"]?.intValue ?? 0
        lastHash = record["hash"]?.stringValue ?? ""
    }

    /// Moves the current file aside and reopens (and relocks) a fresh one.
    private func archiveForeignLog() throws(EventLogError) -> String {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let archive = "\(directory)/events-before-\(ProcessStats.wallMilliseconds).jsonl"
        guard rename(path, archive) == 0 else {
            throw EventLogError("cannot move \(path) to \(archive): \(String(cString: strerror(errno)))")
        }
        let fresh = try Self.openLocked(path)
        Glibc.close(fd)
        fd = fresh
        return archive
    }
}
