import Foundation
import Glibc
import KithCore
import KithNode
import XCTest

/// Node-to-node frames are authenticated: a daemon holding another cluster
/// key cannot join, and every frame it sends is dropped and counted.
final class ClusterKeyTests: XCTestCase {
    private var pids: [Int32] = []
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "kith-keys-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for pid in pids {
            kill(pid, SIGKILL)
            _ = Subprocess.waitForExit(pid, timeout: 5)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func start(_ name: String, gossip: Int, control: Int, key: String, join: Int? = nil) throws {
        let keyFile = "\(directory)/\(name).cluster-key"
        try "# the cluster key\n1:\(key)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        var arguments = ["--name", name, "--listen", "127.0.0.1:\(gossip)", "--control", "127.0.0.1:\(control)",
                         "--data-dir", "\(directory)/\(name)", "--cluster-key-file", keyFile]
        if let join { arguments += ["--join", "127.0.0.1:\(join)"] }
        pids.append(try Subprocess.spawn(Binaries.kithd, arguments, stdout: "\(directory)/\(name).out",
                                         stderr: "\(directory)/\(name).log"))
    }

    private func status(_ control: Int) -> JSON? {
        try? ControlClient(address: "127.0.0.1:\(control)", timeoutMilliseconds: 1000).request(["cmd": "status"])
    }

    private func waitUntil(_ what: String, timeout: Double = 15, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return }
            usleep(50_000)
        }
        let logs = ["k1", "k2", "k3"].map { name in
            "\(name): " + ((try? String(contentsOfFile: "\(directory)/\(name).log", encoding: .utf8))?.suffix(600) ?? "no log")
        }
        XCTFail("timed out waiting until \(what)\n" + logs.joined(separator: "\n"))
        throw HarnessError(what)
    }

    func testANodeWithAnotherClusterKeyIsNeverAdmittedAndItsFramesAreCounted() throws {
        var ports: [Int] = []
        for _ in 0..<60 where ports.count < 6 {
            let port = Int(try freeLoopbackPort())
            if !ports.contains(port) { ports.append(port) }
        }
        guard ports.count == 6 else { throw HarnessError("no six distinct free ports") }
        let good = String(repeating: "ab", count: 32)
        let wrong = String(repeating: "cd", count: 32)
        try start("k1", gossip: ports[0], control: ports[1], key: good)
        try start("k2", gossip: ports[2], control: ports[3], key: good, join: ports[0])
        try start("k3", gossip: ports[4], control: ports[5], key: wrong, join: ports[0])
        try waitUntil("k1 and k2 see each other alive") {
            status(ports[1])?["counts"]?["alive"]?.intValue == 2 && status(ports[3])?["counts"]?["alive"]?.intValue == 2
        }
        try waitUntil("k1 drops k3's frames and counts them") {
            (status(ports[1])?["frames_unauthenticated"]?.intValue ?? 0) > 0
        }
        // k3 keeps retrying its seed for a while: it must stay outside all along.
        for _ in 0..<20 {
            XCTAssertEqual(status(ports[1])?["counts"]?["alive"]?.intValue, 2, "k1 admitted a node with the wrong key")
            XCTAssertEqual(status(ports[5])?["counts"]?["alive"]?.intValue, 1, "k3 joined a cluster whose key it lacks")
            usleep(100_000)
        }
    }
}
