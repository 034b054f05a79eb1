import CLibUV
import Glibc
import XCTest
@testable import KithUV

final class UnixSocketTests: XCTestCase {
    private let framing = Framing.lengthPrefixed(maxFrameBytes: 1 << 20)

    /// Connects to the Unix socket at `path` or fails the test.
    private func connectUnixClient(
        loop: EventLoop, path: String, framing: Framing, maxQueuedBytes: Int = 4 << 20,
        file: StaticString = #filePath, line: UInt = #line, _ connected: @escaping (StreamConnection) -> Void
    ) {
        StreamConnection.connectUnix(loop: loop, path: path, framing: framing, maxQueuedBytes: maxQueuedBytes) { result in
            switch result {
            case .success(let connection): connected(connection)
            case .failure(let error):
                XCTFail("connect failed: \(error)", file: file, line: line)
                loop.stop()
            }
        }
    }

    private func unixEchoListener(loop: EventLoop, path: String, framing: Framing) throws -> UnixListener {
        try UnixListener(loop: loop, path: path, framing: framing) { connection in
            connection.onFrame = { connection.send($0) }
        }
    }

    func testFramedAndLineEchoWorkOverAUnixSocketAndCountBytes() throws {
        let directory = try TemporaryDirectory()
        let payloads = (0..<100).map { index in
            [UInt8](repeating: UInt8(index), count: index == 5 ? 200_000 : index * 13)
        }
        let lines: [[UInt8]] = [Array("hello".utf8), [], Array("agent".utf8)]
        var echoed: [[UInt8]] = []
        var echoedLines: [[UInt8]] = []
        var framedClient: StreamConnection?
        try runLoop { loop in
            let framedListener = try unixEchoListener(loop: loop, path: directory.file("framed.sock"), framing: framing)
            let linesFraming = Framing.lines(maxLineBytes: 64)
            let linesListener = try unixEchoListener(loop: loop, path: directory.file("lines.sock"), framing: linesFraming)
            func stopWhenDone() {
                if echoed.count == payloads.count, echoedLines.count == lines.count { loop.stop() }
            }
            connectUnixClient(loop: loop, path: framedListener.path, framing: framing) { client in
                framedClient = client
                client.onFrame = { frame in
                    echoed.append(frame)
                    stopWhenDone()
                }
                for payload in payloads { XCTAssertTrue(client.send(payload)) }
            }
            connectUnixClient(loop: loop, path: linesListener.path, framing: linesFraming) { client in
                client.onFrame = { line in
                    echoedLines.append(line)
                    stopWhenDone()
                }
                XCTAssertFalse(client.send(Array("two\nlines".utf8)))
                for line in lines { XCTAssertTrue(client.send(line)) }
            }
        }
        XCTAssertEqual(echoed, payloads)
        XCTAssertEqual(echoedLines, lines)
        let wireBytes = UInt64(payloads.reduce(0) { $0 + 4 + $1.count })
        XCTAssertEqual(framedClient?.bytesSent, wireBytes)
        XCTAssertEqual(framedClient?.bytesReceived, wireBytes)
        XCTAssertEqual(framedClient?.peerAddress, "unix")
        // runLoop's closeAll closed both listeners, which removes their socket files.
        XCTAssertFalse(fileExists(directory.file("framed.sock")))
        XCTAssertFalse(fileExists(directory.file("lines.sock")))
    }

    func testAStaleSocketFileIsReplacedGetsTheRequestedModeAndIsRemovedOnClose() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("agent.sock")
        try RawUnixSocket.leaveStaleSocketFile(at: path)
        XCTAssertTrue(fileExists(path))
        var echoed: [[UInt8]] = []
        var modeWhileListening: UInt32?
        var existsAfterClose: Bool?
        try runLoop { loop in
            let listener = try UnixListener(loop: loop, path: path, framing: framing, mode: 0o660) { connection in
                connection.onFrame = { connection.send($0) }
            }
            modeWhileListening = permissions(of: path)
            connectUnixClient(loop: loop, path: path, framing: framing) { client in
                client.onFrame = { frame in
                    echoed.append(frame)
                    listener.close()
                    existsAfterClose = fileExists(path)
                    loop.stop()
                }
                client.send([7, 7])
            }
        }
        XCTAssertEqual(echoed, [[7, 7]])
        XCTAssertEqual(modeWhileListening, 0o660)
        XCTAssertEqual(existsAfterClose, false)
    }

    func testAFileThatIsNotASocketIsNeitherRemovedNorReplaced() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("precious.txt")
        writeTextFile(path, "keep me\n")
        var failure: UVError?
        try runLoop { loop in
            do throws(UVError) {
                _ = try UnixListener(loop: loop, path: path, framing: framing) { _ in }
            } catch {
                failure = error
            }
            loop.stop()
        }
        XCTAssertEqual(failure?.name, "EADDRINUSE")
        XCTAssertEqual(readTextFile(path), "keep me\n")
    }

    func testUnusableSocketPathsAreRefused() throws {
        let directory = try TemporaryDirectory()
        let tooLong = directory.file(String(repeating: "x", count: 120))
        var listenErrors: [String] = []
        var connectErrors: [String] = []
        try runLoop { loop in
            for path in [tooLong, directory.file("missing/dir.sock"), ""] {
                do throws(UVError) {
                    _ = try UnixListener(loop: loop, path: path, framing: framing) { _ in }
                } catch {
                    listenErrors.append(error.name)
                }
            }
            for path in [tooLong, directory.file("nobody.sock")] {
                StreamConnection.connectUnix(loop: loop, path: path, framing: framing) { result in
                    if case .failure(let error) = result { connectErrors.append(error.name) }
                    if connectErrors.count == 2 { loop.stop() }
                }
            }
            XCTAssertEqual(connectErrors, [], "completions must never run synchronously")
        }
        XCTAssertEqual(listenErrors, ["ENAMETOOLONG", "EACCES", "EINVAL"])
        XCTAssertEqual(connectErrors.sorted(), ["ENAMETOOLONG", "ENOENT"])
    }

    func testAnOversizedLineOrGarbageClosesOnlyThatConnectionAndTheListenerKeepsAccepting() throws {
        let directory = try TemporaryDirectory()
        var generator = SystemRandomNumberGenerator()
        var reasons: [CloseReason] = []
        var echoed: [[UInt8]] = []
        var raws: [RawUnixSocket] = []
        try runLoop { loop in
            let linesFraming = Framing.lines(maxLineBytes: 64)
            let lines = try UnixListener(loop: loop, path: directory.file("lines.sock"), framing: linesFraming) { connection in
                connection.onFrame = { connection.send($0) }
                connection.onClose = { reasons.append($0) }
            }
            let framed = try UnixListener(loop: loop, path: directory.file("framed.sock"),
                                          framing: .lengthPrefixed(maxFrameBytes: 1024)) { connection in
                connection.onFrame = { connection.send($0) }
                connection.onClose = { reasons.append($0) }
            }
            let longLine = try RawUnixSocket(connectingTo: lines.path)
            longLine.write([UInt8](repeating: UInt8(ascii: "a"), count: 65))  // no newline yet: already too long
            let garbage = try RawUnixSocket(connectingTo: framed.path)
            garbage.write([0, 0, 4, 1] + (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) })
            raws = [longLine, garbage]
            Timer(loop: loop).start(afterMilliseconds: 30) {
                for (path, framing) in [(lines.path, linesFraming), (framed.path, Framing.lengthPrefixed(maxFrameBytes: 1024))] {
                    self.connectUnixClient(loop: loop, path: path, framing: framing) { client in
                        client.onFrame = { frame in
                            echoed.append(frame)
                            if echoed.count == 2 { loop.stop() }
                        }
                        client.send([UInt8]("ok".utf8))
                    }
                }
            }
        }
        XCTAssertEqual(echoed, [[UInt8]("ok".utf8), [UInt8]("ok".utf8)])
        let violations = reasons.prefix(2).filter { if case .framingViolation = $0 { true } else { false } }
        XCTAssertEqual(violations.count, 2, "\(reasons)")
        withExtendedLifetime(raws) {}
    }

    func testPeerCredentialsNameThisProcessOnBothEnds() throws {
        let directory = try TemporaryDirectory()
        var serverSide: (pid: Int32, uid: UInt32)?
        var clientSide: (pid: Int32, uid: UInt32)?
        var tcpSide: (pid: Int32, uid: UInt32)? = (0, 0)
        var answers = 0
        try runLoop { loop in
            func answered() {
                answers += 1
                if answers == 3 { loop.stop() }
            }
            let listener = try UnixListener(loop: loop, path: directory.file("creds.sock"), framing: framing) { connection in
                serverSide = connection.peerCredentials()
                answered()
            }
            connectUnixClient(loop: loop, path: listener.path, framing: framing) { client in
                clientSide = client.peerCredentials()
                answered()
            }
            let tcp = try echoListener(loop: loop, framing: framing)
            connectClient(loop: loop, port: tcp.boundPort, framing: framing) { client in
                tcpSide = client.peerCredentials()
                answered()
            }
        }
        XCTAssertEqual(serverSide?.pid, getpid())
        XCTAssertEqual(serverSide?.uid, getuid())
        XCTAssertEqual(clientSide?.pid, getpid())
        XCTAssertEqual(clientSide?.uid, getuid())
        XCTAssertNil(tcpSide)
    }

    func testPauseReadingBacksUpTheSenderToItsLimitAndResumeReadingDrainsIt() throws {
        let directory = try TemporaryDirectory()
        let limit = 1 << 20
        let chunk = [UInt8](repeating: 3, count: 60_000)
        var sent = 0
        var received = 0
        var queuedWhenRefused: Int?
        var receivedWhilePaused: Int?
        var drained = false
        var server: StreamConnection?
        try runLoop { loop in
            func stopWhenDone() {
                if drained, received == sent { loop.stop() }
            }
            let listener = try UnixListener(loop: loop, path: directory.file("slow.sock"), framing: framing) { connection in
                server = connection
                connection.pauseReading()
                connection.pauseReading()
                XCTAssertTrue(connection.isReadingPaused)
                connection.onFrame = { _ in
                    received += 1
                    stopWhenDone()
                }
            }
            connectUnixClient(loop: loop, path: listener.path, framing: framing, maxQueuedBytes: limit) { client in
                client.onDrain = {
                    guard queuedWhenRefused != nil else { return }
                    drained = true
                    stopWhenDone()
                }
                let pump = Timer(loop: loop)
                pump.start(afterMilliseconds: 0, repeatMilliseconds: 1) {
                    for _ in 0..<16 {
                        guard client.send(chunk) else {
                            pump.close()
                            queuedWhenRefused = client.queuedBytes
                            // Give the reader a chance to (wrongly) read before checking it did not.
                            Timer(loop: loop).start(afterMilliseconds: 20) {
                                receivedWhilePaused = received
                                server?.resumeReading()
                                server?.resumeReading()
                            }
                            return
                        }
                        sent += 1
                    }
                }
            }
        }
        let queued = try XCTUnwrap(queuedWhenRefused)
        XCTAssertLessThanOrEqual(queued, limit)
        XCTAssertGreaterThan(queued + chunk.count + 4, limit)
        XCTAssertEqual(receivedWhilePaused, 0)
        XCTAssertTrue(drained)
        XCTAssertEqual(received, sent)
        XCTAssertEqual(server?.isReadingPaused, false)
    }
}
