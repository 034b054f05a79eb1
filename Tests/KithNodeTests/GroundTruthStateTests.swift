import Foundation
import Glibc
import KithCore
import KithCrypto
import XCTest
@testable import KithNode

/// The head `events verify` remembers catches a log cut short or rewritten, which
/// verifies on its own terms; and the files behind the ground truth are the daemon's alone.
final class GroundTruthStateTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        Sodium.ensureInitialized()
        var template = Array("/tmp/kithtruth-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw XCTSkip("mkdtemp failed") }
        directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func lines(_ path: String) throws -> [String] {
        try readWholeFile(path).split(separator: "\n").map(String.init)
    }

    private func log(in name: String, key: SigningKey, records: Int) throws -> [String] {
        let log = try EventLog(directory: "\(directory)/\(name)", node: "n1", key: key)
        for index in 1...records { log.append("tick", ["i": .int(Int64(index))], tsMs: Int64(1000 * index) + (name == "a" ? 0 : 7)) }
        log.close()
        return try lines("\(directory)/\(name)/events.jsonl")
    }

    private func verified(_ lines: [String], _ key: SigningKey) -> Verification {
        EventLogVerifier.verify(lines: lines, publicKeyHex: Hex.encode(key.publicKey))
    }

    func testACutTailOrARewrittenLogContradictsTheRememberedHead() throws {
        let key = SigningKey.generate()
        let full = try log(in: "a", key: key, records: 6)
        let atFive = verified(Array(full.prefix(5)), key)
        let head = VerifiedHead(seq: try XCTUnwrap(atFive.lastSeq), hash: try XCTUnwrap(atFive.lastHash))
        XCTAssertEqual(head.seq, 5)

        XCTAssertNil(head.regression(lines: full, verification: verified(full, key)), "a log that grew extends the head")
        XCTAssertNil(head.regression(lines: Array(full.prefix(5)), verification: atFive), "the same log")

        let cut = Array(full.prefix(3))
        let cutCheck = verified(cut, key)
        XCTAssertTrue(cutCheck.ok, "a cut log verifies on its own terms: \(cutCheck)")
        let shorter = try XCTUnwrap(head.regression(lines: cut, verification: cutCheck))
        XCTAssertEqual(shorter.seq, 4, "the first record lost")
        XCTAssertTrue(shorter.detail.contains("cut off"), shorter.detail)

        let other = try log(in: "b", key: key, records: 7)  // same key, other timestamps: a rewritten history
        let otherCheck = verified(other, key)
        XCTAssertTrue(otherCheck.ok)
        let rewritten = try XCTUnwrap(head.regression(lines: other, verification: otherCheck))
        XCTAssertEqual(rewritten.seq, 5)
        XCTAssertTrue(rewritten.detail.contains("rewritten"), rewritten.detail)

        let empty = verified([], key)
        XCTAssertEqual(head.regression(lines: [], verification: empty)?.seq, 1, "an emptied log lost everything")
        let window = Array(full.suffix(1))
        XCTAssertNil(head.regression(lines: window, verification: EventLogVerifier.verify(
            lines: window, publicKeyHex: Hex.encode(key.publicKey), allowPartial: true)), "a window after the head cannot show it")
    }

    func testTheStoreKeepsOneHeadPerNodeKeyAndRefusesAFileThatIsNotOne() throws {
        let store = VerifiedHeadStore(directory: directory + "/config/verified")
        let key = Hex.encode(SigningKey.generate().publicKey)
        XCTAssertNil(try store.load(publicKeyHex: key))
        try store.save(VerifiedHead(seq: 17, hash: "ab"), publicKeyHex: key, node: "n1")
        XCTAssertEqual(try store.load(publicKeyHex: key), VerifiedHead(seq: 17, hash: "ab"))
        XCTAssertNil(try store.load(publicKeyHex: Hex.encode(SigningKey.generate().publicKey)), "another key has its own")
        var info = stat()
        XCTAssertEqual(stat(directory + "/config/verified/\(key).json", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertEqual(stat(directory + "/config/verified", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o700)
        XCTAssertNil(try store.load(publicKeyHex: "../../etc/passwd"), "never a path from a reply")
        try KeyFile.write("not json", to: directory + "/config/verified/\(key).json")
        XCTAssertThrowsError(try store.load(publicKeyHex: key))
    }

    // MARK: - Files the daemon owns

    func testDataDirectoryIsMade0700AndItsLogAndKey0600() throws {
        let data = directory + "/state/kith/n1"
        XCTAssertNil(prepareDataDirectory(data))
        var info = stat()
        XCTAssertEqual(stat(data, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o700)
        let log = try EventLog(directory: data, node: "n1")
        log.append("started", tsMs: 1)
        for file in ["events.jsonl", "node.key"] {
            XCTAssertEqual(stat("\(data)/\(file)", &info), 0, file)
            XCTAssertEqual(info.st_mode & 0o777, 0o600, file)
        }
        log.close()
        // A log an older daemon left readable is tightened when it is opened.
        XCTAssertEqual(chmod("\(data)/events.jsonl", 0o644), 0)
        _ = try EventLog(directory: data, node: "n1")
        XCTAssertEqual(stat("\(data)/events.jsonl", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
    }

    func testAnExistingDataDirectoryIsTightenedOrRefused() throws {
        let readable = directory + "/readable"
        XCTAssertEqual(mkdir(readable, 0o755), 0)
        XCTAssertEqual(chmod(readable, 0o755), 0)
        XCTAssertNil(prepareDataDirectory(readable))
        var info = stat()
        XCTAssertEqual(stat(readable, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o700, "tightened")

        let shared = directory + "/shared"
        XCTAssertEqual(mkdir(shared, 0o700), 0)
        XCTAssertEqual(chmod(shared, 0o1777), 0)
        let refusal = try XCTUnwrap(prepareDataDirectory(shared))
        XCTAssertTrue(refusal.contains("writable by its group or by everyone"), refusal)
        XCTAssertEqual(stat(shared, &info), 0)
        XCTAssertEqual(info.st_mode & 0o7777, 0o1777, "left alone")

        let file = directory + "/file"
        XCTAssertEqual(creat(file, 0o600) >= 0, true)
        XCTAssertNotNil(prepareDataDirectory(file))

        guard geteuid() == 0 else {
            print("skipped: a data directory owned by another uid needs root to create")
            return
        }
        let foreign = directory + "/foreign"
        XCTAssertEqual(mkdir(foreign, 0o700), 0)
        XCTAssertEqual(chown(foreign, 65534, 65534), 0)
        let owned = try XCTUnwrap(prepareDataDirectory(foreign))
        XCTAssertTrue(owned.contains("owned by uid 65534"), owned)
    }

    func testTheDefaultDataDirectoryIsNeverUnderTmp() {
        XCTAssertEqual(NodeConfig.defaultDataDirectory(name: "n1", effectiveUID: 0, environment: ["HOME": "/root"], passwordHome: "/root"),
                       "/var/lib/kith/n1")
        XCTAssertEqual(NodeConfig.defaultDataDirectory(name: "n1", effectiveUID: 1000,
                                                       environment: ["XDG_STATE_HOME": "/s", "HOME": "/home/a"], passwordHome: nil),
                       "/s/kith/n1")
        XCTAssertEqual(NodeConfig.defaultDataDirectory(name: "n1", effectiveUID: 1000, environment: ["HOME": "/home/a"], passwordHome: nil),
                       "/home/a/.local/state/kith/n1")
        XCTAssertEqual(NodeConfig.defaultDataDirectory(name: "n1", effectiveUID: 1000,
                                                       environment: ["XDG_STATE_HOME": "relative"], passwordHome: "/home/b"),
                       "/home/b/.local/state/kith/n1", "a relative XDG_STATE_HOME is ignored, as the spec says")
        var config = NodeConfig()
        config.name = "n1"
        XCTAssertFalse(config.effectiveDataDir.hasPrefix("/tmp"), config.effectiveDataDir)
    }
}
