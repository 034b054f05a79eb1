import Foundation
@testable import KithNode
import XCTest

/// What the binaries say about themselves stays complete as flags and commands are added: `kithd
/// --help` names every flag kithd parses, and both completion files offer every kithctl command.
final class HelpCoverageTests: XCTestCase {
    private static let completions = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("completions").path

    /// `--flag` as a whole word of `text` (not the start of a longer flag).
    private func mentions(_ text: String, _ flag: String) -> Bool {
        text.range(of: flag + "(?![a-z-])", options: .regularExpression) != nil
    }

    func testKithdHelpListsEveryFlag() throws {
        let help = try Subprocess.run(Binaries.kithd, ["--help"])
        XCTAssertEqual(help.status, 0)
        let flags = Set(NodeConfig.flagKeys.keys).union(["--config", "--config-from-env", "--check", "--check-config",
                                                         "--version", "--help"])
        for flag in flags.sorted() { XCTAssertTrue(mentions(help.stdout, flag), "kithd --help does not name \(flag)") }
    }

    /// The command words of `kithctl help` (its two-space-indented entries).
    private func kithctlCommands() throws -> Set<String> {
        let help = try Subprocess.run(Binaries.kithctl, ["help"]).stdout
        return Set(help.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  ") else { return nil }
            let word = String(line.dropFirst(2).prefix { $0 != " " })
            return word.range(of: "^[a-z][a-z-]*$", options: .regularExpression) != nil ? word : nil
        })
    }

    func testBashCompletionOffersEveryCommandAndTheOptionsOfOne() throws {
        let commands = try kithctlCommands()
        XCTAssertTrue(commands.isSuperset(of: ["members", "logs", "faults", "dashboard", "events"]), "\(commands)")
        let script = """
            source \(Self.completions)/kithctl.bash
            COMP_WORDS=(kithctl ""); COMP_CWORD=1; _kithctl; echo "${COMPREPLY[*]}"
            COMP_WORDS=(kithctl --node n1 logs n1-a1 --); COMP_CWORD=5; _kithctl; echo "${COMPREPLY[*]}"
            """
        let result = try Subprocess.run("/bin/bash", ["-c", script], environment: ["PATH": "/nonexistent"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map { Set($0.split(separator: " ").map(String.init)) }
        XCTAssertTrue(lines[0].isSuperset(of: commands), "bash misses \(commands.subtracting(lines[0]).sorted())")
        XCTAssertTrue(lines[1].isSuperset(of: ["--follow", "--since", "--timeout", "--json"]), "\(lines[1])")
    }

    func testZshCompletionParsesAndNamesEveryCommand() throws {
        let zsh = ["/usr/bin/zsh", "/bin/zsh"].first(where: FileManager.default.isExecutableFile)
        let file = Self.completions + "/_kithctl"
        let text = try String(contentsOfFile: file, encoding: .utf8)
        for command in try kithctlCommands().sorted() {
            XCTAssertTrue(text.contains("'\(command):"), "_kithctl does not describe \(command)")
        }
        guard let zsh else {
            print("SKIP the zsh syntax check: no zsh (scripts/deps.sh --tests installs it)")
            return
        }
        let check = try Subprocess.run(zsh, ["-n", file])
        XCTAssertEqual(check.status, 0, check.stderr)
    }
}
