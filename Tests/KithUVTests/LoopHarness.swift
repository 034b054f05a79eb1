import CLibUV
import Glibc
import XCTest
@testable import KithUV

/// Sets up work on a fresh loop with `body`, runs it until the test calls `loop.stop()` (a deadline
/// timer fails the test instead of letting it hang), then closes every handle so nothing outlives the test.
func runLoop(
    deadlineMilliseconds: UInt64 = 5000, file: StaticString = #filePath, line: UInt = #line,
    _ body: (EventLoop) throws -> Void
) throws {
    let loop = try EventLoop()
    var timedOut = false
    let deadline = Timer(loop: loop)
    deadline.start(afterMilliseconds: deadlineMilliseconds) {
        timedOut = true
        loop.stop()
    }
    try body(loop)
    loop.run()
    XCTAssertFalse(timedOut, "the loop hit its \(deadlineMilliseconds) ms deadline", file: file, line: line)
    repeat {
        loop.closeAll()
        loop.run()
    } while uv_loop_alive(loop.uvLoop) != 0
}

/// Connects to a listener on 127.0.0.1 or fails the test.
func connectClient(
    loop: EventLoop, port: UInt16, framing: Framing, maxQueuedBytes: Int = 4 << 20,
    file: StaticString = #filePath, line: UInt = #line, _ connected: @escaping (TCPConnection) -> Void
) {
    TCPConnection.connect(loop: loop, host: "127.0.0.1", port: port, framing: framing,
                          maxQueuedBytes: maxQueuedBytes) { result in
        switch result {
        case .success(let connection): connected(connection)
        case .failure(let error):
            XCTFail("connect failed: \(error)", file: file, line: line)
            loop.stop()
        }
    }
}

/// A listener that echoes every frame back to its sender.
func echoListener(loop: EventLoop, framing: Framing) throws -> TCPListener {
    try TCPListener(loop: loop, host: "127.0.0.1", port: 0, framing: framing) { connection in
        connection.onFrame = { connection.send($0) }
    }
}

/// A blocking POSIX socket on 127.0.0.1, for bytes and behaviours KithUV itself would never produce.
final class RawSocket {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)

    /// A client connected to `port`; the kernel completes the handshake even before the loop accepts.
    init(connectingTo port: UInt16) throws {
        var address = Self.loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else { throw UVError(code: -errno) }
    }

    /// A listener on an ephemeral port that never accepts, so nobody ever reads what peers send it.
    init(listeningNeverAccepting: Void) throws {
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw UVError(code: -errno) }
    }

    deinit {
        Glibc.close(fd)
    }

    var port: UInt16 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { return }
            offset += written
        }
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}

/// Length-prefixes `payload` the way a `.lengthPrefixed` connection does.
func framed(_ payload: [UInt8], _ framing: Framing = .lengthPrefixed(maxFrameBytes: .max)) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: framing.wireSize(of: payload)!)
    bytes.withUnsafeMutableBytes { framing.encode(payload, into: $0) }
    return bytes
}

/// Lets closures handed to `EventLoop.post` record results; only the loop thread touches `value`.
final class LoopBox<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
