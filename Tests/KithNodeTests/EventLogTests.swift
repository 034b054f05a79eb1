import Glibc
import KithCore
import KithCrypto
import XCTest
@testable import KithNode

final class EventLogTests: XCTestCase {
    private var directory = ""
    private var logPath: String { "\(directory)/events.jsonl" }

    override func setUpWithError() throws {
        Sodium.ensureInitialized()
        var template = Array("/tmp/kithlog-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw XCTSkip("mkdtemp failed") }
        directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    override func tearDown() {
        for name in entries() { unlink("\(directory)/\(name)") }
        rmdir(directory)
    }

    // MARK: - Writing and verifying

    func testAppendedRecordsVerify() throws {
        let log = try EventLog(directory: directory, node: "n1")
        XCTAssertTrue(log.keyWasCreated)
        XCTAssertNil(log.recoveryNote)
        for i in 1...20 {
            log.append("member_changed", [
                "member": .string("n\(i)"), "state": "alive", "incarnation": .int(Int64(i)),
                "load": .double(Double(i) / 3), "tags": ["zone": "é☃", "quote": "a\"b\\c\n\t\u{1}"], "previous": nil,
            ], tsMs: 1_000 + Int64(i))
        }
        XCTAssertEqual(log.lastSeq, 20)
        let lines = fileLines()
        XCTAssertEqual(lines.count, 20)
        let first = try JSON.parse(lines[0])
        XCTAssertEqual(first["seq"], 1)
        XCTAssertEqual(first["prev"], "")
        XCTAssertEqual(first["node"], "n1")
        XCTAssertEqual(first["event"], "member_changed")
        XCTAssertEqual(first["ts_ms"], 1001)
        XCTAssertEqual(try JSON.parse(lines[1])["prev"], first["hash"])

        let result = EventLogVerifier.verify(text: fileText(), publicKeyHex: log.publicKeyHex)
        XCTAssertTrue(result.ok, result.description)
        XCTAssertEqual(result.records, 20)
        XCTAssertEqual(result.firstSeq, 1)
        XCTAssertEqual(result.lastSeq, 20)
        XCTAssertEqual(result.lastHash, log.lastHash)
        XCTAssertFalse(result.tornTail)
        XCTAssertEqual(result.description, "ok: 20 records (seq 1...20)")
        XCTAssertEqual(result.json["ok"], true)
    }

    func testNodeKeyFileIsPrivateHexAndReused() throws {
        let publicKey = try EventLog(directory: directory, node: "n1").publicKeyHex
        var status = stat()
        XCTAssertEqual(lstat("\(directory)/node.key", &status), 0)
        XCTAssertEqual(status.st_mode & 0o777, 0o600)
        let text = try KeyFile.read("\(directory)/node.key")
        XCTAssertEqual(text.utf8.count, 129, "128 hex digits and a newline")
        let again = try EventLog(directory: directory, node: "n1")
        XCTAssertFalse(again.keyWasCreated)
        XCTAssertEqual(again.publicKeyHex, publicKey)
    }

    func testACorruptKeyFileIsAnErrorNotReplaced() throws {
        try KeyFile.write("not a key\n", to: "\(directory)/node.key")
        XCTAssertThrowsError(try EventLog(directory: directory, node: "n1")) { error in
            XCTAssertTrue("\(error)".contains("not a 128-digit hex Ed25519 secret key"), "\(error)")
        }
        XCTAssertEqual(try KeyFile.read("\(directory)/node.key"), "not a key\n")
    }

    func testReservedFieldsCannotBeOverridden() throws {
        let log = try EventLog(directory: directory, node: "n1")
        let record = log.append("x", ["seq": 99, "node": "mallory", "hash": "00", "extra": 1], tsMs: 5)
        XCTAssertEqual(record?["seq"], 1)
        XCTAssertEqual(record?["node"], "n1")
        XCTAssertEqual(record?["extra"], 1)
        XCTAssertTrue(EventLogVerifier.verify(text: fileText(), publicKeyHex: log.publicKeyHex).ok)
    }

    // MARK: - Tampering

    func testEditingOneFieldNamesThatRecord() throws {
        let key = try writeLog(count: 10)
        var lines = fileLines()
        XCTAssertTrue(lines[6].contains(#""member":"n7""#))
        lines[6] = lines[6].replacingFirst(#""member":"n7""#, with: #""member":"n8""#)
        let result = EventLogVerifier.verify(lines: lines, publicKeyHex: key)
        XCTAssertFalse(result.ok)
        XCTAssertEqual(result.failure?.problem, .badHash)
        XCTAssertEqual(result.failure?.seq, 7)
        XCTAssertEqual(result.failure?.line, 7)
        XCTAssertEqual(result.records, 6)
        XCTAssertTrue(result.description.hasPrefix("broken at line 7 (seq 7): bad hash"), result.description)
    }

    func testEditingTheTimestampIsCaughtToo() throws {
        let key = try writeLog(count: 5)
        var lines = fileLines()
        lines[2] = lines[2].replacingFirst(#""ts_ms":1003"#, with: #""ts_ms":1004"#)
        XCTAssertEqual(EventLogVerifier.verify(lines: lines, publicKeyHex: key).failure?.seq, 3)
    }

    func testARecordReHashedAndSignedWithAnotherKeyIsABadSignature() throws {
        let key = try writeLog(count: 10)
        var lines = fileLines()
        guard case .object(var members) = try JSON.parse(lines[4]) else { return XCTFail("not an object") }
        members["member"] = "forged"
        let forger = SigningKey.generate()
        let hash = Digest.sha256(EventLogVerifier.canonicalBody(members))
        members["hash"] = .string(Hex.encode(hash))
        members["sig"] = .string(Hex.encode(forger.sign(hash)))
        lines[4] = JSON.object(members).serialized()
        let result = EventLogVerifier.verify(lines: lines, publicKeyHex: key)
        XCTAssertEqual(result.failure?.problem, .badSignature)
        XCTAssertEqual(result.failure?.seq, 5)
        // The forger's own key accepts that record but not the untouched ones before it.
        XCTAssertEqual(EventLogVerifier.verify(lines: lines, publicKeyHex: Hex.encode(forger.publicKey)).failure?.seq, 1)
    }

    func testSwappingTwoLinesBreaksTheChain() throws {
        let key = try writeLog(count: 10)
        var lines = fileLines()
        lines.swapAt(3, 4)
        let result = EventLogVerifier.verify(lines: lines, publicKeyHex: key)
        XCTAssertEqual(result.failure?.problem, .brokenChain)
        XCTAssertEqual(result.failure?.line, 4)
        XCTAssertEqual(result.failure?.seq, 5)
    }

    func testDeletingALineBreaksTheChain() throws {
        let key = try writeLog(count: 10)
        var lines = fileLines()
        lines.remove(at: 5)
        let result = EventLogVerifier.verify(lines: lines, publicKeyHex: key)
        XCTAssertEqual(result.failure?.problem, .brokenChain)
        XCTAssertEqual(result.failure?.seq, 7)
        XCTAssertEqual(result.failure?.line, 6)

        var headless = fileLines()
        headless.removeFirst()
        XCTAssertEqual(EventLogVerifier.verify(lines: headless, publicKeyHex: key).failure?.problem, .missingHead)
        XCTAssertTrue(EventLogVerifier.verify(lines: headless, publicKeyHex: key, allowPartial: true).ok)
    }

    func testReplayingALineBreaksTheChain() throws {
        let key = try writeLog(count: 6)
        var lines = fileLines()
        lines.insert(lines[2], at: 3)
        let result = EventLogVerifier.verify(lines: lines, publicKeyHex: key)
        XCTAssertEqual(result.failure?.problem, .brokenChain)
        XCTAssertEqual(result.failure?.line, 4)
    }

    func testAGarbledLineInTheMiddleFailsButBlankLinesDoNot() throws {
        let key = try writeLog(count: 6)
        var lines = fileLines()
        lines.insert("", at: 2)
        XCTAssertTrue(EventLogVerifier.verify(lines: lines, publicKeyHex: key).ok)
        lines[4] = String(lines[4].dropLast(3))
        let result = EventLogVerifier.verify(lines: lines, publicKeyHex: key)
        XCTAssertEqual(result.failure?.problem, .unparsable)
        XCTAssertEqual(result.failure?.line, 5)
        lines[4] = #"{"seq":4}"#
        XCTAssertEqual(EventLogVerifier.verify(lines: lines, publicKeyHex: key).failure?.problem, .malformed)
    }

    func testTheWrongOrABadKeyFails() throws {
        _ = try writeLog(count: 3)
        let other = Hex.encode(SigningKey.generate().publicKey)
        let result = EventLogVerifier.verify(text: fileText(), publicKeyHex: other)
        XCTAssertEqual(result.failure?.problem, .badSignature)
        XCTAssertEqual(result.failure?.seq, 1)
        XCTAssertEqual(EventLogVerifier.verify(text: fileText(), publicKeyHex: "abcd").failure?.problem, .badKey)
    }

    // MARK: - Restarts and crashes

    func testRestartContinuesSeqAndChain() throws {
        let key = try writeLog(count: 5)
        let log = try EventLog(directory: directory, node: "n1")
        XCTAssertEqual(log.lastSeq, 5)
        XCTAssertNil(log.recoveryNote)
        XCTAssertEqual(log.publicKeyHex, key)
        for i in 6...8 { log.append("member_changed", ["member": .string("n\(i)")], tsMs: 1_000 + Int64(i)) }
        let result = EventLogVerifier.verify(text: fileText(), publicKeyHex: key)
        XCTAssertTrue(result.ok, result.description)
        XCTAssertEqual(result.records, 8)
        XCTAssertEqual(result.lastHash, log.lastHash)
    }

    func testASecondWriterOnTheSameDirectoryIsRefused() throws {
        let log = try EventLog(directory: directory, node: "n1")
        XCTAssertThrowsError(try EventLog(directory: directory, node: "n1")) { error in
            XCTAssertTrue("\(error)".contains("in use by another process"), "\(error)")
        }
        log.close()
        XCTAssertNil(log.append("after_close", tsMs: 1))
        XCTAssertEqual(log.writeFailures, 1)
        XCTAssertNoThrow(try EventLog(directory: directory, node: "n1"))
    }

    func testATornLastLineVerifiesAsTornAndIsRepairedOnRestart() throws {
        let key = try writeLog(count: 5)
        let fragment = #"{"event":"member_changed","hash":"ab"#
        appendRaw(fragment)
        let before = EventLogVerifier.verify(text: fileText(), publicKeyHex: key)
        XCTAssertTrue(before.ok, before.description)
        XCTAssertTrue(before.tornTail)
        XCTAssertEqual(before.records, 5)

        let log = try EventLog(directory: directory, node: "n1")
        XCTAssertTrue(log.recoveryNote?.contains("torn last line of \(fragment.utf8.count) bytes") ?? false, log.recoveryNote ?? "nil")
        XCTAssertEqual(log.lastSeq, 6)
        let recovered = try JSON.parse(fileLines()[5])
        XCTAssertEqual(recovered["event"], "log_recovered")
        XCTAssertEqual(recovered["torn_bytes"], .int(Int64(fragment.utf8.count)))
        XCTAssertEqual(recovered["torn_sha256"], .string(Hex.encode(Digest.sha256(fragment.utf8))))
        XCTAssertEqual(recovered["torn_text"], .string(fragment))
        log.append("member_changed", ["member": "n9"], tsMs: 2_000)
        let after = EventLogVerifier.verify(text: fileText(), publicKeyHex: key)
        XCTAssertTrue(after.ok, after.description)
        XCTAssertFalse(after.tornTail)
        XCTAssertEqual(after.records, 7)
    }

    func testZeroFilledTailFromAPowerLossIsRepaired() throws {
        let key = try writeLog(count: 3)
        appendRaw(String(repeating: "\u{0}", count: 100))
        XCTAssertTrue(EventLogVerifier.verify(text: fileText(), publicKeyHex: key).tornTail)
        let log = try EventLog(directory: directory, node: "n1")
        log.append("started", tsMs: 3_000)
        let result = EventLogVerifier.verify(text: fileText(), publicKeyHex: key)
        XCTAssertTrue(result.ok, result.description)
        XCTAssertEqual(result.records, 5)
    }

    func testAWholeLastRecordMissingOnlyItsNewlineIsKept() throws {
        let key = try writeLog(count: 4)
        var text = fileText()
        text.removeLast()
        writeFile(text)
        let log = try EventLog(directory: directory, node: "n1")
        XCTAssertEqual(log.lastSeq, 4)
        XCTAssertNotNil(log.recoveryNote)
        log.append("started", tsMs: 3_000)
        let result = EventLogVerifier.verify(text: fileText(), publicKeyHex: key)
        XCTAssertTrue(result.ok, result.description)
        XCTAssertEqual(result.records, 5)
    }

    func testAnEditedLogStillFailsAfterRestarts() throws {
        let key = try writeLog(count: 5)
        var lines = fileLines()
        lines[1] = lines[1].replacingFirst(#""member":"n2""#, with: #""member":"nX""#)
        writeFile(lines.joined(separator: "\n") + "\n")
        for round in 0..<2 {
            let log = try EventLog(directory: directory, node: "n1")
            log.append("started", ["round": .int(Int64(round))], tsMs: 5_000)
        }
        let result = EventLogVerifier.verify(text: fileText(), publicKeyHex: key)
        XCTAssertEqual(result.failure?.seq, 2)
        XCTAssertEqual(result.failure?.problem, .badHash)
    }

    func testALogSignedByAnotherKeyIsMovedAsideAndANewChainStarts() throws {
        do {
            let log = try EventLog(directory: directory, node: "n1", key: SigningKey.generate())
            log.append("a", tsMs: 1)
        }
        let log = try EventLog(directory: directory, node: "n1")
        XCTAssertEqual(log.lastSeq, 0)
        XCTAssertTrue(log.recoveryNote?.contains("signed by another key") ?? false, log.recoveryNote ?? "nil")
        XCTAssertEqual(entries().filter { $0.hasPrefix("events-before-") }.count, 1)
        log.append("b", tsMs: 2)
        XCTAssertTrue(EventLogVerifier.verify(text: fileText(), publicKeyHex: log.publicKeyHex).ok)
    }

    func testAFailedAppendIsReportedAndLeavesNoPartialLine() throws {
        let log = try EventLog(directory: directory, node: "n1")
        log.append("first", tsMs: 1)
        var errors: [String] = []
        log.onError = { errors.append($0) }
        // A file-size limit makes the kernel write part of the line, then refuse (EFBIG).
        let previousHandler = signal(SIGXFSZ, SIG_IGN)
        var saved = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        var limit = saved
        limit.rlim_cur = rlim_t(fileText().utf8.count + 100)
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit)
        let record = log.append("big", ["blob": .string(String(repeating: "z", count: 1_000))], tsMs: 2)
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        signal(SIGXFSZ, previousHandler)

        XCTAssertNil(record)
        XCTAssertEqual(log.writeFailures, 1)
        XCTAssertEqual(errors.count, 1)
        XCTAssertTrue(errors.first?.contains("cannot append") ?? false, "\(errors)")
        XCTAssertEqual(log.lastSeq, 1, "the failed record is not part of the chain")
        XCTAssertEqual(fileLines().count, 1, "the partial line was cut off again")
        log.append("second", tsMs: 3)
        let result = EventLogVerifier.verify(text: fileText(), publicKeyHex: log.publicKeyHex)
        XCTAssertTrue(result.ok, result.description)
        XCTAssertEqual(result.records, 2)
    }

    // MARK: - Reading back

    func testRecordsFiltersByTimeAndKeepsTheNewest() throws {
        let log = try EventLog(directory: directory, node: "n1")
        for i in 0..<30 { log.append("tick", ["i": .int(Int64(i))], tsMs: 1_000 + Int64(i) * 10) }
        XCTAssertEqual(log.records(sinceMs: nil, limit: 10).map { $0["seq"]?.intValue }, Array(21...30))
        XCTAssertEqual(log.records(sinceMs: 1_200, limit: 100).map { $0["seq"]?.intValue }, Array(21...30))
        XCTAssertEqual(log.records(sinceMs: 1_100, limit: 5).map { $0["seq"]?.intValue }, Array(26...30))
        XCTAssertEqual(log.records(sinceMs: 9_999, limit: 5), [])
        XCTAssertEqual(log.records(sinceMs: nil, limit: 0), [])
        XCTAssertEqual(log.records(sinceMs: nil, limit: 1_000).count, 30)
    }

    func testReadingBackAcrossChunksVerifies() throws {
        let log = try EventLog(directory: directory, node: "n1")
        let padding = String(repeating: "x", count: 300)
        for i in 0..<1_000 { log.append("tick", ["i": .int(Int64(i)), "pad": .string(padding)], tsMs: Int64(i)) }
        let all = log.lines(sinceMs: nil, limit: .max)
        XCTAssertEqual(all, fileLines())
        XCTAssertTrue(EventLogVerifier.verify(lines: all, publicKeyHex: log.publicKeyHex).ok)
        // Records re-serialized by a receiver verify the same as the stored lines.
        let reserialized = log.records(sinceMs: nil, limit: .max).map { $0.serialized() }
        XCTAssertEqual(EventLogVerifier.verify(lines: reserialized, publicKeyHex: log.publicKeyHex).records, 1_000)

        let window = log.lines(sinceMs: 500, limit: 250)
        XCTAssertEqual(window.count, 250)
        XCTAssertEqual(try JSON.parse(window[0])["seq"], 751)
        XCTAssertEqual(EventLogVerifier.verify(lines: window, publicKeyHex: log.publicKeyHex).failure?.problem, .missingHead)
        let partial = EventLogVerifier.verify(lines: window, publicKeyHex: log.publicKeyHex, allowPartial: true)
        XCTAssertTrue(partial.ok, partial.description)
        XCTAssertEqual(partial.firstSeq, 751)
        XCTAssertEqual(partial.lastHash, log.lastHash)
    }

    func testAVeryLongLineIsReadBackWhole() throws {
        let log = try EventLog(directory: directory, node: "n1")
        log.append("small", tsMs: 1)
        log.append("big", ["blob": .string(String(repeating: "y", count: 200_000))], tsMs: 2)
        log.append("small", tsMs: 3)
        let records = log.records(sinceMs: nil, limit: 10)
        XCTAssertEqual(records.map { $0["event"]?.stringValue }, ["small", "big", "small"])
        XCTAssertEqual(records[1]["blob"]?.stringValue?.count, 200_000)
    }

    // MARK: - Helpers

    /// Writes `count` records with a fresh log, closes it, and returns its public key.
    private func writeLog(count: Int) throws -> String {
        let log = try EventLog(directory: directory, node: "n1")
        for i in 1...count {
            log.append("member_changed", ["member": .string("n\(i)"), "state": "alive"], tsMs: 1_000 + Int64(i))
        }
        return log.publicKeyHex
    }

    private func fileText() -> String {
        let fd = open(logPath, O_RDONLY)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The file's lines without the empty string after the final newline.
    private func fileLines() -> [String] {
        var lines = fileText().utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    private func writeFile(_ text: String) {
        let fd = open(logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    private func appendRaw(_ text: String) {
        let fd = open(logPath, O_WRONLY | O_APPEND)
        defer { close(fd) }
        _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    private func entries() -> [String] {
        var names: [String] = []
        guard let dir = opendir(directory) else { return names }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

private extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
