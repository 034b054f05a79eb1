import Foundation
import Glibc
import KithControl
import KithCore
import XCTest

/// The systemd unit runs kithd as its own user with ambient capabilities
/// instead of root: CAP_SETUID, CAP_SETGID, CAP_CHOWN, CAP_KILL and CAP_SETPCAP
/// are enough for it to start every agent under a uid of its own, with no
/// capability left. Needs root to hand out the capabilities (skipped otherwise).
final class AmbientCapabilityTests: LabTestCase {
    private static let capabilities = "+setuid,+setgid,+chown,+kill,+setpcap"
    private static let nobody: UInt32 = 65534

    override func setUpWithError() throws {
        guard geteuid() == 0, access("/usr/bin/setpriv", X_OK) == 0 else {
            print("AmbientCapabilityTests skipped: handing kithd ambient capabilities needs root and setpriv")
            throw XCTSkip("needs root and setpriv")
        }
    }

    func testAKithdWithoutRootButWithTheUnitsCapabilitiesRunsAgentsUnderTheirOwnUIDs() throws {
        let base = lab.directory + "/ambient"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        chmod(lab.directory, 0o755)
        XCTAssertEqual(chown(base, Self.nobody, Self.nobody), 0)
        let marker = "4\(getpid() % 100_000)"  // tells this test's agent apart from any other sleep
        let config = base + "/kithd.json"
        let control = try freeLoopbackPort()
        var signer = try OperatorSigner.generate(at: lab.directory + "/operator.key")
        try #"{"agents": [{"name": "amb1", "command": "/bin/sleep", "args": ["\#(marker)"]}]}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o644)
        let pid = try Subprocess.spawn("/usr/bin/setpriv", [
            "--reuid=\(Self.nobody)", "--regid=\(Self.nobody)", "--clear-groups",
            "--inh-caps=\(Self.capabilities)", "--ambient-caps=\(Self.capabilities)", "--",
            Binaries.kithd, "--name", "a1", "--listen", "127.0.0.1:\(try freeLoopbackPort())",
            "--control", "127.0.0.1:\(control)", "--data-dir", base + "/a1", "--config", config,
            "--operator-key", signer.publicKeyHex,
        ], stdout: lab.directory + "/a1.out", stderr: lab.directory + "/a1.log")
        defer {
            kill(pid, SIGKILL)
            _ = Subprocess.waitForExit(pid, timeout: 5)
        }
        let client = ControlClient(address: "127.0.0.1:\(control)", timeoutMilliseconds: 1000)
        var status: JSON = .null
        do {
            try lab.waitUntil("a1 answers") {
                status = (try? client.request(["cmd": "status"])) ?? .null
                return status["ok"] == true
            }
        } catch {
            throw HarnessError("\(error); a1's log: \((try? String(contentsOfFile: lab.directory + "/a1.log", encoding: .utf8)) ?? "none")")
        }
        XCTAssertEqual(status["containment"]?["own_uids"], true, status.serialized())
        XCTAssertEqual(Self.field("Uid", of: pid).first, "\(Self.nobody)", "kithd itself is not root")

        var agent: Int32?
        try lab.waitUntil("the config agent runs") {
            agent = Self.processes(withArguments: ["/bin/sleep", marker]).first
            return agent != nil
        }
        let uids = Self.field("Uid", of: agent!)
        XCTAssertEqual(Set(uids).count, 1, "real, effective, saved and file uids agree: \(uids)")
        let uid = try XCTUnwrap(uids.first.flatMap { UInt32($0) })
        XCTAssertGreaterThanOrEqual(uid, 1_000_000_000, "the agent has a uid of its own, not kithd's \(Self.nobody)")
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            XCTAssertEqual(Self.field(set, of: agent!).first.flatMap { UInt64($0, radix: 16) }, 0, "\(set) of the agent")
        }

        // No cgroup here (kithd cannot write one): the kill-switch says plainly what its fence is worth.
        XCTAssertEqual(status["containment"]?["mode"], "none", status.serialized())
        signer.cluster = status["cluster"]?.stringValue ?? ""
        let reply = try client.request(signer.sign(["cmd": "kill_switch", "agents": ["amb1"], "epoch": 1,
                                                    "reason": "test", "target": "a1"], counter: 1))
        XCTAssertEqual(reply["ok"], true, reply.serialized())
        XCTAssertEqual(reply["containment"]?["mode"], "none", reply.serialized())
        XCTAssertNotNil(reply["processes_killed"], reply.serialized())
    }

    /// The whitespace-separated values of one line of /proc/PID/status.
    private static func field(_ name: String, of pid: Int32) -> [String] {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return [] }
        return line.split(whereSeparator: \.isWhitespace).dropFirst().map(String.init)
    }

    private static func processes(withArguments arguments: [String]) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) } == arguments
        }
    }
}
