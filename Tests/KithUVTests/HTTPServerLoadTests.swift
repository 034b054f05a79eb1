import Dispatch
import Foundation
import Glibc
import XCTest
@testable import KithUV

final class HTTPServerLoadTests: XCTestCase {
    /// Issue 13: a thousand idle HTTP connections must not stall the loop (gossip shares it).
    func testAThousandIdleConnectionsNeitherStallTheLoopNorDelayARequest() throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        guard limit.rlim_cur >= 2100 else {
            print("SKIPPED: needs 2100 open files (client and server ends), the limit is \(limit.rlim_cur)")
            throw XCTSkip("RLIMIT_NOFILE too low")
        }
        var settings = HTTPServer.Settings()
        settings.connectionsMax = 1024
        settings.requestTimeout = .seconds(30)
        let harness = try HTTPServerHarness(settings: settings) { _ in .text("ok") }
        defer { harness.stop() }
        // A 10 ms ticker stands in for the gossip timers: its gaps show whether the loop stalled.
        let gapMax = LoopBox<UInt64>(0)
        harness.onLoop {
            var last = harness.loop.nowMilliseconds
            Timer(loop: harness.loop).start(afterMilliseconds: 10, repeatMilliseconds: 10) {
                let now = harness.loop.nowMilliseconds
                gapMax.value = max(gapMax.value, now - last)
                last = now
            }
        }
        let residentBefore = residentKilobytes()
        var idle: [HTTPTestClient] = []
        for _ in 0..<1000 {
            let client = try HTTPTestClient(port: harness.port)
            client.send("GET /partial HTTP/1.1\r\n")  // a started request: the worst kind of idle
            idle.append(client)
        }
        var open = 0
        for _ in 0..<200 where open < 1000 {  // accepting 1000 peers takes the loop a few iterations
            usleep(10_000)
            open = harness.onLoop { harness.server.connectionCount }
        }
        XCTAssertEqual(open, 1000)
        let residentGrowth = residentKilobytes() - residentBefore
        let started = DispatchTime.now()
        let response = try HTTPTestClient(port: harness.port).get("/")
        let requestMicroseconds = (DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1000
        XCTAssertEqual(response?.text, "ok")
        XCTAssertLessThan(requestMicroseconds, 200_000)
        let gap = harness.onLoop { gapMax.value }
        XCTAssertLessThan(gap, 200, "the loop went \(gap) ms without running a due timer")
        print("1000 idle HTTP connections: request took \(requestMicroseconds) µs, longest timer gap \(gap) ms, "
              + "test process RSS grew \(residentGrowth) KiB")
        withExtendedLifetime(idle) {}
    }

    private func residentKilobytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        return line.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
    }
}
