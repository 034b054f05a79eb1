import Foundation
import Glibc
import KithCore
import KithNode
import XCTest

/// Sockets as a hostile host would open them: many partial gossip frames and
/// hundreds of idle control connections against a real daemon. The operator
/// must still get through, and the daemon's memory must stay bounded.
final class ConnectionFloodTests: LabTestCase {
    /// Partial frames opened against n1's gossip port: each announces a 4 MiB frame and sends 1 KB of it.
    static let partialFrames = 64
    /// Idle control connections, more than the daemon holds (256).
    static let idleControlConnections = 300
    /// What the floods may add to n1's resident memory.
    static let rssGrowthBytesMax = 24 << 20
    /// What they may add to n1's data segment (reserved, touched or not): reserving each frame's
    /// announced length costs 64 × 4 MiB = 256 MiB; each connection's 64 KiB read buffer, 23 MiB.
    static let dataGrowthBytesMax = 96 << 20

    private var sockets: [Int32] = []

    override func tearDown() {
        for fd in sockets { close(fd) }
        sockets = []
        super.tearDown()
    }

    func testPartialFramesAndIdleControlFloodsNeitherBloatNorLockOutTheOperator() throws {
        try lab.start(nodes: 3)
        let n1 = lab.node("n1")
        let rssBefore = try memory("VmRSS", of: n1.pid)
        let dataBefore = try memory("VmData", of: n1.pid)

        let announce: [UInt8] = [0x00, 0x40, 0x00, 0x00]  // a 4 MiB frame, the largest the codec allows
        for _ in 0..<Self.partialFrames {
            let fd = try connect(to: n1.listen)
            write(fd, announce + Array(repeating: 0x41, count: 1000))
        }
        for _ in 0..<Self.idleControlConnections { _ = try connect(to: n1.control) }
        Thread.sleep(forTimeInterval: 1)  // n1 accepts and reads them all

        let rssDuring = try memory("VmRSS", of: n1.pid)
        let dataDuring = try memory("VmData", of: n1.pid)
        XCTAssertLessThan(rssDuring - rssBefore, Self.rssGrowthBytesMax,
                          "RSS \(rssBefore >> 10) KiB -> \(rssDuring >> 10) KiB during the floods")
        XCTAssertLessThan(dataDuring - dataBefore, Self.dataGrowthBytesMax,
                          "data \(dataBefore >> 10) KiB -> \(dataDuring >> 10) KiB during the floods")

        // The operator still gets through: a signed command and a read.
        let healed = try lab.kithctl(on: "n1", ["heal"])
        XCTAssertEqual(healed.status, 0, healed.stderr + healed.stdout)
        let status = try lab.client("n1").request(["cmd": "status"])
        XCTAssertEqual(status["ok"]?.boolValue, true)

        // The partial frames miss their hello deadline (5 s) and are closed; the cluster never noticed.
        try lab.waitUntil("n1 closes every partial frame", timeout: 15) {
            sockets.prefix(Self.partialFrames).allSatisfy(isClosedByPeer)
        }
        try lab.waitUntil("every node still sees all three alive") { lab.allSee(lab.nodes.map(\.name), as: "alive") }
        print("connection flood: n1 RSS \(rssBefore >> 10) -> \(rssDuring >> 10) KiB, data \(dataBefore >> 10) -> "
              + "\(dataDuring >> 10) KiB with \(Self.partialFrames) partial 4 MiB frames and "
              + "\(Self.idleControlConnections) idle control connections")
    }

    func testAHugeRefusedRequestIsRecordedWithItsFieldsCutShort() throws {
        try lab.start(nodes: 1)
        let huge = String(repeating: "n", count: 200_000)
        let client = ControlClient(address: lab.node("n1").control, timeoutMilliseconds: 20_000)
        let signer = try lab.operatorSigner()
        // Signed, but for another node: refused, and the refusal names the target it was signed for.
        let request = signer.sign(["cmd": "heal", "target": .string(huge)], counter: try signer.nextCounter())
        for (what, hugeRequest) in [("signed for a huge target", request), ("a huge command name", ["cmd": .string(huge)])] {
            do {
                let reply = try client.request(hugeRequest)
                XCTFail("\(what): accepted, \(reply.serialized().prefix(200))")
            } catch .rejected(_, let message) {
                XCTAssertLessThanOrEqual(message.utf8.count, 2048, "\(what): the refusal quotes the request cut short")
            } catch {
                XCTFail("\(what): \(String(error.description.prefix(300)))")
            }
        }

        var refusals: [JSON] = []
        try lab.waitUntil("n1 records the refusal") {
            refusals = lab.events("command_refused", on: ["n1"]).map(\.record)
            return !refusals.isEmpty
        }
        for record in refusals {
            XCTAssertLessThan(record.serialized().utf8.count, 4096, "a refusal record of \(record.serialized().utf8.count) bytes")
        }
        let log = try String(contentsOfFile: lab.directory + "/n1/kithd.log", encoding: .utf8)
        let longest = log.split(separator: "\n").map(\.utf8.count).max() ?? 0
        XCTAssertLessThan(longest, 4096, "n1's longest log line")
    }

    /// A blocking TCP connection to `address` (HOST:PORT), closed in tearDown.
    private func connect(to address: String) throws -> Int32 {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw HarnessError("bad address \(address)")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
        sockets.append(fd)
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = port.bigEndian
        target.sin_addr.s_addr = inet_addr(String(address[..<colon]))
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw HarnessError("cannot connect to \(address): \(String(cString: strerror(errno)))") }
        return fd
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Whether the peer closed `fd` (a read returns end of file or a reset), without blocking.
    private func isClosedByPeer(_ fd: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 { continue }  // the daemon's hello (a keyed lab): read past it
            return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        }
    }

    /// A memory figure of /proc/PID/status (`VmRSS`, `VmData`), in bytes.
    private func memory(_ field: String, of pid: Int32) throws -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
              let kib = Int(line.split(whereSeparator: \.isWhitespace).dropFirst().first ?? "") else {
            throw HarnessError("cannot read \(field) of pid \(pid)")
        }
        return kib << 10
    }
}
