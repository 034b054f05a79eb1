import Foundation
import Glibc
import KithCore
import KithControl
import XCTest

/// Secrets never travel in argv or in clear: kithd takes cluster keys from a
/// file, a lab's daemons show no key material in `ps`, and a key installed at
/// run time crosses the control port sealed to the node.
final class SecretsTests: LabTestCase {
    /// The NUL-separated arguments of a running process.
    private func commandLine(_ pid: Int32) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every run of 64 or more hex digits in `text`: what a key in the clear looks like.
    private func hexRuns(_ text: String) -> [String] {
        var runs: [String] = []
        var current = ""
        for character in text + " " {
            if character.isHexDigit { current.append(character); continue }
            if current.count >= 64 { runs.append(current.lowercased()) }
            current = ""
        }
        return runs
    }

    func testAKeyOnTheCommandLineIsRefused() throws {
        let key = String(repeating: "ab", count: 32)
        let result = try Subprocess.run(Binaries.kithd, ["--name", "s1", "--listen", "127.0.0.1:1", "--control", "127.0.0.1:2",
                                                         "--data-dir", lab.directory + "/s1", "--cluster-key", "1:\(key)"], timeout: 10)
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("--cluster-key-file"), result.stderr)
        XCTAssertFalse(result.stderr.contains(key), "the refusal does not echo the key")
    }

    func testKithdWithAKeyFileShowsNoKeyInItsCommandLine() throws {
        try FileManager.default.createDirectory(atPath: lab.directory, withIntermediateDirectories: true)
        let key = String(repeating: "5a", count: 32)
        let keyFile = lab.directory + "/cluster.key"
        try "1:\(key)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        let gossip = try freeLoopbackPort(), control = try freeLoopbackPort()
        let pid = try Subprocess.spawn(Binaries.kithd, ["--name", "s2", "--listen", "127.0.0.1:\(gossip)", "--control",
                                                        "127.0.0.1:\(control)", "--data-dir", lab.directory + "/s2",
                                                        "--cluster-key-file", keyFile],
                                       stdout: lab.directory + "/s2.out", stderr: lab.directory + "/s2.log")
        defer {
            kill(pid, SIGKILL)
            _ = Subprocess.waitForExit(pid, timeout: 5)
        }
        let client = ControlClient(address: "127.0.0.1:\(control)", timeoutMilliseconds: 1000)
        do {
            try lab.waitUntil("s2 answers with its cluster key in use") { (try? client.request(["cmd": "status"]))?["cluster_key"] == 1 }
        } catch {
            throw HarnessError("\(error); s2's log: \((try? String(contentsOfFile: lab.directory + "/s2.log", encoding: .utf8)) ?? "none")")
        }
        let arguments = commandLine(pid).joined(separator: " ")
        XCTAssertTrue(arguments.contains("--cluster-key-file"), arguments)
        XCTAssertFalse(arguments.lowercased().contains(key), arguments)
        XCTAssertTrue(hexRuns(arguments).isEmpty, arguments)
    }

    func testALabsDaemonsShowNoKeyMaterialInTheirCommandLines() throws {
        try lab.start(nodes: 2)
        let operatorPublic = try lab.operatorSigner().publicKeyHex.lowercased()
        for node in ["n1", "n2"] {
            let arguments = commandLine(lab.node(node).pid)
            XCTAssertFalse(arguments.isEmpty, "\(node)'s /proc cmdline is readable")
            let secrets = hexRuns(arguments.joined(separator: " ")).filter { $0 != operatorPublic }
            XCTAssertEqual(secrets, [], "\(node) has key material in argv: \(arguments)")
        }
    }

    func testAKeyInstalledFromStdinReachesTheNodesSealedAndNeverInClear() throws {
        try lab.start(nodes: 2)
        let key = try lab.kithctl(["keys", "generate"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let keyFile = lab.directory + "/new.key"
        try "# the next cluster key\n\(key)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        let installed = try Subprocess.run("/bin/sh", ["-c", "exec \"$0\" --node \"$1\" keys install 9 - < \"$2\"",
                                                       Binaries.kithctl, lab.node("n1").control, keyFile],
                                           environment: ["XDG_CONFIG_HOME": lab.configHome, "KITH_OPERATOR_KEY": ""])
        XCTAssertEqual(installed.status, 0, installed.stderr + installed.stdout)
        for node in ["n1", "n2"] {
            let ring = try String(contentsOfFile: lab.directory + "/\(node)/keyring", encoding: .utf8)
            XCTAssertTrue(ring.contains("9:\(key)"), "\(node) opened and installed the key")
            let log = try String(contentsOfFile: lab.directory + "/\(node)/events.jsonl", encoding: .utf8)
            XCTAssertFalse(log.contains(key), "\(node)'s event log never holds the key")
        }

        // A signed request with the key in clear is refused, and a box sealed to another node does not open.
        let signer = try lab.operatorSigner()
        let n1 = ControlClient(address: lab.node("n1").control, timeoutMilliseconds: 2000, signer: signer)
        let clear: JSON = ["cmd": "keys_install", "id": 10, "key": .string(key), "target": "n1"]
        XCTAssertThrowsError(try n1.request(clear)) { error in
            XCTAssertTrue("\(error)".contains("never in clear"), "\(error)")
        }
        let n2Key = try XCTUnwrap(lab.status(of: "n2")?["public_key"]?.stringValue)
        var forN2 = try XCTUnwrap(SealedKeyInstall.request(id: 10, key: Array(repeating: 7, count: 32), nodePublicKeyHex: n2Key))
        if case .object(var object) = forN2 { object["target"] = "n1"; forN2 = .object(object) }
        XCTAssertThrowsError(try n1.request(forN2)) { error in
            XCTAssertTrue("\(error)".contains("does not open"), "\(error)")
        }
        let ring = try String(contentsOfFile: lab.directory + "/n1/keyring", encoding: .utf8)
        XCTAssertFalse(ring.contains("10:"), "no key 10 was installed")
    }
}
