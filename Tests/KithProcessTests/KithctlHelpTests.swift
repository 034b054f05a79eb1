import XCTest

/// `kithctl COMMAND --help` shows that command alone; `--version` on kithctl and kithd.
final class KithctlHelpTests: XCTestCase {
    func testCommandHelpShowsOnlyThatCommand() throws {
        let full = try Subprocess.run(Binaries.kithctl, ["help"])
        let members = try Subprocess.run(Binaries.kithctl, ["members", "--help"])
        XCTAssertEqual(members.status, 0)
        XCTAssertTrue(members.stdout.contains("members [--json]"), members.stdout)
        XCTAssertFalse(members.stdout.contains("kill-switch"), "other commands are left out: \(members.stdout)")
        XCTAssertLessThan(members.stdout.count * 10, full.stdout.count)

        let lab = try Subprocess.run(Binaries.kithctl, ["--node", "127.0.0.1:1", "lab", "-h"])
        XCTAssertEqual(lab.status, 0)
        for form in ["lab up", "lab status", "lab down", "lab netem"] {
            XCTAssertTrue(lab.stdout.contains(form), "lab help lacks \(form): \(lab.stdout)")
        }
        XCTAssertFalse(lab.stdout.contains("bench membership"))
        XCTAssertEqual(try Subprocess.run(Binaries.kithctl, ["help", "agent"]).stdout,
                       try Subprocess.run(Binaries.kithctl, ["agent", "start", "--help"]).stdout)
        XCTAssertEqual(try Subprocess.run(Binaries.kithctl, ["no-such-command", "--help"]).stdout, full.stdout,
                       "an unknown command gets the whole usage")
    }

    func testVersion() throws {
        for binary in [Binaries.kithctl, Binaries.kithd] {
            let result = try Subprocess.run(binary, ["--version"])
            XCTAssertEqual(result.status, 0)
            XCTAssertNotNil(result.stdout.range(of: #"^kith(ctl|d) \d+\.\d+\.\d+\n$"#, options: .regularExpression), result.stdout)
        }
    }
}
