import Foundation
import Glibc
import KithCore
import XCTest

/// A fan-out command against a lab with one node crashed and one frozen: the crashed one (its control
/// port refuses the connection) is in the table but not required; the frozen one (the kernel accepts the
/// connection, nobody answers) still holds what the command changes, so the command exits 1 naming it.
final class FanOutTests: LabTestCase {
    override func tearDown() {
        for node in lab.nodes { kill(node.pid, SIGCONT) }
        super.tearDown()
    }

    private func kithctl(_ arguments: [String]) throws -> Finished {
        try lab.kithctl(arguments, environment: ["KITH_LAB_DIR": lab.directory])
    }

    /// The table's rows with runs of spaces squeezed, keyed by node.
    private func rows(_ stdout: String) -> [String: String] {
        var rows: [String: String] = [:]
        for line in stdout.split(separator: "\n") {
            let words = line.split(separator: " ")
            if let node = words.first, node.hasPrefix("n") { rows[String(node)] = words.joined(separator: " ") }
        }
        return rows
    }

    func testAKillSwitchThatMissesAFrozenNodeExits1WithTheTableNamingIt_whileACrashedNodeIsOnlyReported() throws {
        try lab.start(nodes: 3)
        kill(lab.node("n2").pid, SIGKILL)
        try lab.waitUntil("n1 and n3 see n2 dead") { lab.allSee(["n2"], as: "dead", observers: ["n1", "n3"]) }

        let crashed = try kithctl(["kill-switch", "a1", "--timeout", "1s"])
        XCTAssertEqual(crashed.status, 0, "a crashed node is not required: \(crashed.stdout)\(crashed.stderr)")
        XCTAssertTrue(crashed.stdout.contains("NODE"), crashed.stdout)
        XCTAssertEqual(rows(crashed.stdout)["n1"]?.hasPrefix("n1 alive ok acknowledged"), true, crashed.stdout)
        XCTAssertEqual(rows(crashed.stdout)["n2"]?.hasPrefix("n2 dead no answer, not required"), true, crashed.stdout)

        kill(lab.node("n3").pid, SIGSTOP)
        let frozen = try kithctl(["kill-switch", "a2", "--timeout", "1s"])
        kill(lab.node("n3").pid, SIGCONT)
        XCTAssertEqual(frozen.status, 1, "a frozen node must answer: \(frozen.stdout)\(frozen.stderr)")
        XCTAssertTrue(frozen.stdout.hasPrefix("Kill-switch at epoch"), frozen.stdout)
        XCTAssertTrue(rows(frozen.stdout)["n3"]?.contains(" no answer ") == true, frozen.stdout)
        XCTAssertTrue(rows(frozen.stdout)["n3"]?.contains("not required") == false, frozen.stdout)
        XCTAssertEqual(rows(frozen.stdout)["n1"]?.hasPrefix("n1 alive ok"), true, frozen.stdout)
        XCTAssertTrue(frozen.stderr.contains("kill-switch: no answer from n3"), frozen.stderr)

        // The same verdicts in JSON, and for another command (halt) with its own wording.
        kill(lab.node("n3").pid, SIGSTOP)
        let halt = try kithctl(["halt", "--json"])
        kill(lab.node("n3").pid, SIGCONT)
        XCTAssertEqual(halt.status, 1, halt.stderr)
        let entries = try XCTUnwrap(try JSON.parse(halt.stdout).arrayValue)
        let byNode = Dictionary(uniqueKeysWithValues: entries.compactMap { entry in entry["node"]?.stringValue.map { ($0, entry) } })
        XCTAssertEqual(byNode["n1"]?["result"], "ok")
        XCTAssertEqual(byNode["n2"]?["result"], "not_required")
        XCTAssertEqual(byNode["n2"]?["required"], false)
        XCTAssertEqual(byNode["n3"]?["result"], "no_answer")
        XCTAssertEqual(byNode["n3"]?["required"], true)
        XCTAssertNotNil(byNode["n3"]?["unreachable"]?.stringValue, "the keys it had are kept")

        try lab.waitUntil("resume reaching every node that must answer") { (try? kithctl(["resume"]))?.status == 0 }
    }
}
