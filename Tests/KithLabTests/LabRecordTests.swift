import Foundation
import KithJSON
import XCTest
@testable import KithLab

/// What a lab leaves on disk (lab.json, the operator key), read back by later
/// kithctl runs, and which kind of lab a directory holds. No daemons.
final class LabRecordTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.path + "/kith-lab-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func write(_ text: String) throws {
        try text.write(toFile: directory + "/" + LabRecord.fileName, atomically: true, encoding: .utf8)
    }

    func test_record_roundTripsThroughLabJSON() throws {
        var record = LabRecord(kithd: "/bin/kithd", nodes: [
            LabNode(name: "n1", pid: 42, listen: "127.0.0.1:1", control: "127.0.0.1:2", dataDir: directory + "/n1", args: ["--name", "n1"]),
        ], operatorKey: "ab")
        record.setRelaunchQuorum("majority")
        try record.save(to: directory)
        let loaded = try XCTUnwrap(LabRecord.load(from: directory))
        XCTAssertEqual(loaded.kithd, "/bin/kithd")
        XCTAssertEqual(loaded.nodes.map(\.name), ["n1"])
        XCTAssertEqual(loaded.nodes[0].pid, 42)
        XCTAssertEqual(loaded.nodes[0].args, ["--name", "n1", "--relaunch-quorum", "majority"])
        XCTAssertEqual(loaded.operatorKey, "ab")
        XCTAssertEqual(loaded.relaunchQuorum, "majority")
    }

    func test_load_noRecord_isNil_andABrokenOneFailsNamingTheFile() throws {
        XCTAssertNil(try LabRecord.load(from: directory))
        try write("{ not json")
        XCTAssertThrowsError(try LabRecord.load(from: directory)) { error in
            XCTAssertTrue("\(error)".contains(LabRecord.fileName) && "\(error)".contains("not valid JSON"), "\(error)")
        }
        try write(#"{"kithd": "/bin/kithd", "nodes": [{"name": "n1"}]}"#)
        XCTAssertThrowsError(try LabRecord.load(from: directory)) { error in
            XCTAssertTrue("\(error)".contains("incomplete node entry"), "\(error)")
        }
    }

    func test_labKind_isTheNetnsLabOnlyWhenItsRecordSaysSo() throws {
        XCTAssertTrue(LabKinds.recorded(in: directory) == LocalLab.self, "no record: a loopback lab's commands answer")
        try write(#"{"kithd": "/bin/kithd", "nodes": []}"#)
        XCTAssertTrue(LabKinds.recorded(in: directory) == LocalLab.self)
        try write(#"{"kithd": "/bin/kithd", "nodes": [], "netns": {}}"#)
        XCTAssertTrue(LabKinds.recorded(in: directory) == NetnsLab.self)
    }

    func test_operatorKey_missing_saysHowToMakeOne_andAGeneratedOneSigns() throws {
        let path = directory + "/keys/operator.key"
        XCTAssertThrowsError(try OperatorKey(path: path).signer()) { error in
            XCTAssertEqual("\(error)", "no operator key at \(path): run kithctl keygen")
        }
        let generated = try OperatorKey.generate(at: path).signer()
        let reloaded = try OperatorKey(option: path).signer()
        XCTAssertEqual(reloaded.publicKeyHex, generated.publicKeyHex)
        XCTAssertEqual(try String(contentsOfFile: path + ".pub", encoding: .utf8), generated.publicKeyHex + "\n")
        let (_, created) = try OperatorKey(path: path).signerCreatingKey()
        XCTAssertFalse(created, "an existing key is never replaced")
    }
}
