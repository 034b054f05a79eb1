import Foundation
import Glibc
import KithCore
import XCTest

/// The event logs stay ground truth: a log cut short fails `events verify` even
/// after the node restarted on it and reports the shorter head as its own, and
/// the files behind the logs belong to the daemon alone.
final class GroundTruthTests: LabTestCase {
    private func verifyJSON() throws -> (status: Int32, stderr: String, nodes: [String: JSON]) {
        let result = try lab.kithctl(on: "n1", ["events", "verify", "--json"])
        let entries = try XCTUnwrap(JSON.parse(result.stdout).arrayValue, result.stdout + result.stderr)
        var nodes: [String: JSON] = [:]
        for entry in entries { if let name = entry["node"]?.stringValue { nodes[name] = entry } }
        return (result.status, result.stderr, nodes)
    }

    func testATruncatedTailFailsVerifyAfterARestart() throws {
        try lab.start(nodes: 2)
        // Signed commands are recorded by every node: a few more records to cut.
        for command in ["halt", "resume", "halt", "resume"] { XCTAssertEqual(try lab.kithctl(on: "n1", [command]).status, 0) }
        let first = try verifyJSON()
        XCTAssertEqual(first.status, 0, first.stderr)
        let head = try XCTUnwrap(first.nodes["n2"]?["verification"]?["last_seq"]?.intValue)
        guard head > 3 else { return XCTFail("n2's log has only \(head) records") }
        let key = try XCTUnwrap(first.nodes["n2"]?["public_key"]?.stringValue)
        let state = try JSON.parse(String(contentsOfFile: lab.configHome + "/kith/verified/\(key).json", encoding: .utf8))
        XCTAssertEqual(state["seq"]?.intValue, head, "the verified head is remembered")

        XCTAssertEqual(try lab.kithctl(["lab", "stop", "n2"]).status, 0)
        XCTAssertNotNil(lab.waitForExit("n2", timeout: 10))
        let path = lab.directory + "/n2/events.jsonl"
        let kept = Int(head) - 3
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").prefix(kept)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(lines.reduce(0) { $0 + $1.utf8.count + 1 }))
        try handle.close()
        XCTAssertEqual(try lab.kithctl(["lab", "start", "n2"]).status, 0)
        try lab.waitUntil("n2 is back") { lab.allSee(["n1", "n2"], as: "alive") }
        let reported = try XCTUnwrap(lab.status(of: "n2"))
        XCTAssertNotNil(reported["public_key"], "the node restarted on its cut log, which verifies on its own terms")

        let after = try verifyJSON()
        XCTAssertEqual(after.status, 1, "\(after.nodes)")
        XCTAssertEqual(after.nodes["n1"]?["status"], "ok")
        XCTAssertEqual(after.nodes["n2"]?["status"], "broken", "\(after.nodes["n2"] ?? nil)")
        let broken = try XCTUnwrap(after.nodes["n2"]?["broken_seq"]?.intValue)
        // Cut to `kept` records: either the log now ends before the old head (the first lost is kept + 1), or the
        // restart's own records have grown it past the old head, whose record is then another one.
        XCTAssertTrue(broken == Int64(kept) + 1 || broken == head, "broken at \(broken), kept \(kept), head \(head)")
        XCTAssertTrue(after.stderr.contains("n2 (broken at seq \(broken))"), after.stderr)
        XCTAssertEqual(try lab.kithctl(on: "n1", ["events", "verify"]).status, 1, "the loss keeps failing, the old head is kept")
        XCTAssertEqual(try lab.kithctl(on: "n1", ["events", "verify", "--repin"]).status, 0, "until the operator accepts it")
        XCTAssertEqual(try lab.kithctl(on: "n1", ["events", "verify"]).status, 0)
    }

    func testATailCutWhileTheNodeRunsFailsVerify() throws {
        try lab.start(nodes: 2)
        XCTAssertEqual(try verifyJSON().status, 0)
        let path = lab.directory + "/n2/events.jsonl"
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(truncate(path, off_t(lines.dropLast(2).reduce(0) { $0 + $1.utf8.count + 1 })), 0)
        let after = try verifyJSON()
        XCTAssertEqual(after.status, 1)
        XCTAssertEqual(after.nodes["n2"]?["status"], "broken", "\(after.nodes["n2"] ?? nil)")
        XCTAssertTrue(after.stderr.contains("n2"), after.stderr)
    }

    func testTheDataDirectoryAndItsKeyAndLogAreTheDaemonsAlone() throws {
        try lab.start(nodes: 1)
        var info = stat()
        XCTAssertEqual(stat(lab.directory + "/n1", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o700, "data directory")
        XCTAssertEqual(info.st_uid, geteuid())
        for file in ["events.jsonl", "node.key"] {
            XCTAssertEqual(stat(lab.directory + "/n1/" + file, &info), 0, file)
            XCTAssertEqual(info.st_mode & 0o777, 0o600, file)
        }
    }

    func testAWorldWritableDataDirectoryIsRefusedAtStart() throws {
        try FileManager.default.createDirectory(atPath: lab.directory, withIntermediateDirectories: true)
        let shared = lab.directory + "/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        XCTAssertEqual(chmod(shared, 0o777), 0)
        let open = try Subprocess.run(Binaries.kithd, ["--name", "f2", "--listen", "127.0.0.1:1", "--control", "127.0.0.1:2",
                                                       "--data-dir", shared], timeout: 10)
        XCTAssertEqual(open.status, 2, open.stderr)
        XCTAssertTrue(open.stderr.contains("writable by its group or by everyone"), open.stderr)
    }

    func testADataDirectoryOwnedByAnotherUserIsRefusedAtStart() throws {
        guard geteuid() == 0 else {
            print("skipped: creating a data directory owned by another uid needs root")
            return
        }
        let directory = lab.directory + "/foreign"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        XCTAssertEqual(chown(directory, 65534, 65534), 0)
        let result = try Subprocess.run(Binaries.kithd, ["--name", "f1", "--listen", "127.0.0.1:1", "--control", "127.0.0.1:2",
                                                         "--data-dir", directory], timeout: 10)
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("owned by uid 65534"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/node.key"), "nothing was written into it")
    }
}
