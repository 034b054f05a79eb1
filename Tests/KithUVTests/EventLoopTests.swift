import Dispatch
import Glibc
import XCTest
@testable import KithUV

final class EventLoopTests: XCTestCase {
    func testOneShotTimerFiresOnce() throws {
        var fired = 0
        try runLoop { loop in
            let timer = Timer(loop: loop)
            timer.start(afterMilliseconds: 5) { fired += 1 }
            Timer(loop: loop).start(afterMilliseconds: 60) { loop.stop() }
        }
        XCTAssertEqual(fired, 1)
    }

    func testRepeatingTimerKeepsFiringUntilClosed() throws {
        var fired = 0
        try runLoop { loop in
            let timer = Timer(loop: loop)
            let started = loop.nowMilliseconds
            timer.start(afterMilliseconds: 1, repeatMilliseconds: 5) {
                fired += 1
                guard fired == 3 else { return }
                XCTAssertGreaterThanOrEqual(loop.nowMilliseconds - started, 10)
                timer.close()
                loop.stop()
            }
        }
        XCTAssertEqual(fired, 3)
    }

    func testRestartingATimerReplacesItsSchedule() throws {
        var first = 0, second = 0
        try runLoop { loop in
            let timer = Timer(loop: loop)
            timer.start(afterMilliseconds: 5) { first += 1 }
            timer.start(afterMilliseconds: 20) { second += 1 }
            Timer(loop: loop).start(afterMilliseconds: 60) { loop.stop() }
        }
        XCTAssertEqual(first, 0)
        XCTAssertEqual(second, 1)
    }

    func testStoppedTimerDoesNotFire() throws {
        var fired = false
        try runLoop { loop in
            let timer = Timer(loop: loop)
            timer.start(afterMilliseconds: 5) { fired = true }
            timer.stop()
            Timer(loop: loop).start(afterMilliseconds: 30) { loop.stop() }
        }
        XCTAssertFalse(fired)
    }

    func testPostFromOtherThreadsRunsEveryItemOnTheLoopThread() throws {
        let loopThread = pthread_self()
        let ran = LoopBox(0)
        let onLoopThread = LoopBox(true)
        try runLoop { loop in
            for _ in 0..<4 {
                DispatchQueue.global().async {
                    for _ in 0..<250 {
                        loop.post {
                            onLoopThread.value = onLoopThread.value && pthread_equal(pthread_self(), loopThread) != 0
                            ran.value += 1
                            if ran.value == 1000 { loop.stop() }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(ran.value, 1000)
        XCTAssertTrue(onLoopThread.value)
    }

    func testSignalWatcherDeliversTheSignalOnTheLoop() throws {
        var received: Int32?
        try runLoop { loop in
            _ = try SignalWatcher(loop: loop, signal: SIGUSR1) { signal in
                received = signal
                loop.stop()
            }
            Timer(loop: loop).start(afterMilliseconds: 1) { raise(SIGUSR1) }
        }
        XCTAssertEqual(received, SIGUSR1)
    }

    func testCloseAllLetsRunReturnAndClosesConnectionsLocally() throws {
        var reasons: [String] = []
        try runLoop { loop in
            _ = try SignalWatcher(loop: loop, signal: SIGUSR2) { _ in }
            Timer(loop: loop).start(afterMilliseconds: 1, repeatMilliseconds: 1) {}
            let listener = try TCPListener(loop: loop, host: "127.0.0.1", port: 0, framing: .lines(maxLineBytes: 64)) {
                $0.onClose = { reasons.append("server \($0)") }
            }
            connectClient(loop: loop, port: listener.boundPort, framing: .lines(maxLineBytes: 64)) { client in
                client.onClose = { reasons.append("client \($0)") }
                // Give the listener a turn to accept, then close everything, deadline timer included:
                // run() must return on its own.
                Timer(loop: loop).start(afterMilliseconds: 20) { loop.closeAll() }
            }
        }
        XCTAssertEqual(reasons.sorted(), ["client closed locally", "server closed locally"])
    }

    func testCloseAllCancelsAPendingConnectExactlyOnce() throws {
        var results: [String] = []
        try runLoop { loop in
            let listener = try echoListener(loop: loop, framing: .lines(maxLineBytes: 64))
            TCPConnection.connect(loop: loop, host: "localhost", port: listener.boundPort,
                                  framing: .lines(maxLineBytes: 64)) { result in
                results.append((try? result.get()).map { _ in "connected" } ?? "\(result)")
            }
            loop.closeAll()
        }
        XCTAssertEqual(results.count, 1)
        XCTAssertTrue(results.first?.contains("ECANCELED") ?? false, "\(results)")
    }

    func testLoopIsFreedOnceEveryHandleHasClosed() throws {
        weak var freed: EventLoop?
        try runLoop { loop in
            freed = loop
            let listener = try echoListener(loop: loop, framing: .lines(maxLineBytes: 64))
            connectClient(loop: loop, port: listener.boundPort, framing: .lines(maxLineBytes: 64)) { client in
                client.onFrame = { _ in loop.stop() }
                client.send([1])
                loop.post {}
            }
        }
        XCTAssertNil(freed)
    }
}
