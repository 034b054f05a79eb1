import KithCore
import XCTest

/// The operator CLI against a live lab: output shapes, defaults and exit codes.
final class KithctlTests: LabTestCase {
    func testMembersJSONHasRequiredKeys() throws {
        try lab.start(nodes: 3)
        // No --node: kithctl finds the lab through KITH_LAB_DIR, as an operator's shell would.
        let result = try lab.kithctl(["members", "--json"], environment: ["KITH_LAB_DIR": lab.directory, "KITH_NODE": ""])
        XCTAssertEqual(result.status, 0, result.stderr)
        let members = try XCTUnwrap(JSON.parse(result.stdout).arrayValue)
        XCTAssertEqual(Set(members.compactMap { $0["name"]?.stringValue }), ["n1", "n2", "n3"])
        for member in members {
            for key in ["name", "address", "state", "incarnation"] {
                XCTAssertNotNil(member[key], "member \(member.serialized()) lacks \(key)")
            }
        }
    }

    func testStatusAndLabStatusJSON() throws {
        try lab.start(nodes: 3)
        let status = try lab.kithctl(["--node", lab.node("n2").control, "status", "--json"])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertEqual(try JSON.parse(status.stdout)["name"], "n2")

        let labStatus = try lab.kithctl(["lab", "status", "--json"])
        XCTAssertEqual(labStatus.status, 0, labStatus.stderr)
        let nodes = try XCTUnwrap(JSON.parse(labStatus.stdout).arrayValue)
        XCTAssertEqual(nodes.map { $0["running"] }, [true, true, true])
        for node in nodes {
            for key in ["name", "pid", "listen", "control", "running"] {
                XCTAssertNotNil(node[key], "lab status entry \(node.serialized()) lacks \(key)")
            }
        }
    }

    func testLabDownStopsEveryDaemon() throws {
        try lab.start(nodes: 3)
        let paused = try lab.kithctl(["lab", "pause", "n3"])
        XCTAssertEqual(paused.status, 0, paused.stderr)
        XCTAssertEqual(try lab.kithctl(["lab", "down"]).status, 0)
        for node in lab.nodes {
            XCTAssertNotNil(lab.waitForExit(node.name, timeout: 5), "\(node.name) still running after lab down")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: lab.directory + "/lab.json"))
    }

    func testUsageErrorsExitTwoAndUnreachableNodeExitsOne() throws {
        let unknown = try Subprocess.run(Binaries.kithctl, ["frobnicate"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("unknown command"), unknown.stderr)
        XCTAssertEqual(try Subprocess.run(Binaries.kithctl, ["members", "--bogus"]).status, 2)
        XCTAssertEqual(try Subprocess.run(Binaries.kithctl, ["help"]).status, 0)

        let unreachable = try Subprocess.run(Binaries.kithctl, ["--node", "127.0.0.1:1", "members"])
        XCTAssertEqual(unreachable.status, 1)
        XCTAssertTrue(unreachable.stderr.contains("cannot reach node at 127.0.0.1:1"), unreachable.stderr)
    }
}
