import Foundation
import Glibc
import KithCore
import KithNode
import XCTest

/// `kithd --check-config`, the configuration from the environment, and how kithd stops.
final class KithdConfigTests: LabTestCase {
    private func write(_ text: String, to name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: lab.directory, withIntermediateDirectories: true)
        let path = lab.directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testCheckConfigSaysOkForAGoodFileAndStartsNothing() throws {
        let port = try freeLoopbackPort()
        let path = try write("""
            {"name": "n1", "listen": "127.0.0.1:\(port)", "control": "127.0.0.1:\(try freeLoopbackPort())",
             "join": ["127.0.0.1:1"], "membership": {"preset": "wan"}, "tags": {"zone": "a"}}
            """, to: "good.json")
        let result = try Subprocess.run(Binaries.kithd, ["--check-config", path], timeout: 10)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "ok")
        XCTAssertTrue(try canBind(port), "--check-config must not start listening")
    }

    func testCheckConfigNamesEveryProblemAndExits2() throws {
        let path = try write("""
            {"name": "n1", "listen": "127.0.0.1:7946", "control": "nowhere", "capacity": -1,
             "colour": "blue", "join": ["127.0.0.1"]}
            """, to: "bad.json")
        let result = try Subprocess.run(Binaries.kithd, ["--check-config", path], timeout: 10)
        XCTAssertEqual(result.status, 2)
        for problem in ["unknown config key 'colour'", "capacity must be 0...100000", "control must be HOST:PORT",
                        "join addresses must be HOST:PORT"] {
            XCTAssertTrue(result.stderr.contains(problem), "missing \(problem) in: \(result.stderr)")
        }
        XCTAssertFalse(result.stdout.contains("ok"))
        let unreadable = try Subprocess.run(Binaries.kithd, ["--check-config", lab.directory + "/no-such.json"], timeout: 10)
        XCTAssertEqual(unreadable.status, 2)
        XCTAssertTrue(unreadable.stderr.contains("cannot read config file"), unreadable.stderr)
    }

    func testConfigFromEnvironmentNamesTheVariableOfAProblem() throws {
        let env = ["KITH_NAME": "e1", "KITH_LISTEN": "127.0.0.1:7946", "KITH_CONTROL": "127.0.0.1:7400",
                   "KITH_CAPACITY": "many", "KITH_LOG_LEVEL": "loud"]
        let result = try Subprocess.run(Binaries.kithd, ["--config-from-env", "--check"], environment: env, timeout: 10)
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("KITH_CAPACITY"), result.stderr)
        XCTAssertTrue(result.stderr.contains("KITH_LOG_LEVEL"), result.stderr)
        let good = try Subprocess.run(Binaries.kithd, ["--config-from-env", "--check"],
                                      environment: env.merging(["KITH_CAPACITY": "3", "KITH_LOG_LEVEL": "warn"]) { $1 },
                                      timeout: 10)
        XCTAssertEqual(good.status, 0, good.stderr)
    }

    func testDaemonRunsFromEnvironmentWithFlagsOverridingIt() throws {
        let control = "127.0.0.1:\(try freeLoopbackPort())"
        try FileManager.default.createDirectory(atPath: lab.directory + "/operator", withIntermediateDirectories: true)
        let signer = try OperatorSigner.generate(at: lab.directory + "/operator/operator.key")
        let keyFile = try write("# the operator\n\(signer.publicKeyHex)\n", to: "operator.pub")
        let env = ["KITH_NAME": "from-env", "KITH_LISTEN": "127.0.0.1:\(try freeLoopbackPort())", "KITH_CONTROL": control,
                   "KITH_DATA_DIR": lab.directory + "/env-node", "KITH_TAGS": "zone=a,rack=r2", "KITH_CAPACITY": "3",
                   "KITH_OPERATOR_KEYS_FILE": keyFile]
        let pid = try Subprocess.spawn(Binaries.kithd, ["--config-from-env", "--capacity", "5"], environment: env,
                                       stdout: lab.directory + "/env.out", stderr: lab.directory + "/env.err")
        defer {
            kill(pid, SIGKILL)
            _ = Subprocess.waitForExit(pid, timeout: 5)
        }
        var members: [JSON] = []
        try lab.waitUntil("the daemon configured from the environment answers") {
            members = (try? ControlClient(address: control).request(["cmd": "members"]))?["members"]?.arrayValue ?? []
            return !members.isEmpty
        }
        let me = try XCTUnwrap(members.first { $0["name"]?.stringValue == "from-env" }, "\(members)")
        XCTAssertEqual(me["capacity"]?.intValue, 5, "the flag wins over KITH_CAPACITY: \(me)")
        XCTAssertEqual(me["tags"]?["rack"]?.stringValue, "r2", "\(me)")
        // The key read from KITH_OPERATOR_KEYS_FILE is trusted: a command it signs is obeyed.
        XCTAssertNil(try? ControlClient(address: control).request(["cmd": "heal"]), "an unsigned heal must be refused")
        let healed = try ControlClient(address: control, signer: signer).request(["cmd": "heal"])
        XCTAssertEqual(healed["ok"]?.boolValue, true, "\(healed)")
    }

    /// SIGHUP reopens the logs (see LogReopenTests): the node neither leaves nor dies.
    func testHangUpKeepsTheNodeInTheCluster() throws {
        try lab.start(nodes: 3)
        XCTAssertEqual(kill(lab.node("n2").pid, SIGHUP), 0)
        XCTAssertNil(lab.waitForExit("n2", timeout: 1.5), "kithd keeps running after SIGHUP")
        try lab.waitUntil("n2 records that it reopened its logs") { !lab.daemonEvents(on: "n2", "logs_reopened").isEmpty }
        XCTAssertTrue(lab.allSee(["n2"], as: "alive"))
    }

    private func canBind(_ port: UInt16) throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
