import Foundation
import Glibc
import KithCore
import XCTest

/// One copy at a time and commands that expire, on real daemons: a paused
/// node refuses a command whose validity ran out while it slept.
final class FencingTests: LabTestCase {
    func testAnExpiredCommandIsRefusedAfterTheNodeResumes() throws {
        try lab.start(nodes: 2)
        // Named up front: kithctl would otherwise ask each node for it, and the paused one cannot answer.
        let cluster = try XCTUnwrap(lab.status(of: "n1")?["cluster"]?.stringValue)
        let paused = lab.node("n2").pid
        XCTAssertEqual(kill(paused, SIGSTOP), 0)
        try lab.waitUntil("n2 is stopped (SIGSTOP)", timeout: 5) { Self.isStopped(paused) }

        let heal = try lab.kithctl(on: "n1", ["--cluster", cluster, "--valid-for", "1s", "heal"])
        XCTAssertTrue(heal.stdout.contains("n1: healed"), heal.stdout + heal.stderr)
        XCTAssertNotNil(heal.stdout.range(of: #"n2: no answer .*no answer; it will not be obeyed after \d\d:\d\d:\d\d"#,
                                          options: .regularExpression), heal.stdout)
        usleep(1_200_000)  // past the validity, whatever part of it kithctl's own wait used up
        XCTAssertEqual(kill(paused, SIGCONT), 0)

        try lab.waitUntil("n2 records the heal as refused, expired") {
            lab.daemonEvents(on: "n2", "command_refused").contains {
                $0["cmd"]?.stringValue == "heal" && $0["reason"]?.stringValue?.hasPrefix("expired") == true
            }
        }
        XCTAssertTrue(lab.daemonEvents(on: "n2", "fault_healed").isEmpty, "an expired command is never carried out")
    }

    /// Whether `/proc` shows the process stopped (state T).
    static func isStopped(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].hasPrefix(" T")
    }
}
