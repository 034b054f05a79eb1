import CLibUV
import Dispatch
import Foundation
import Glibc
import XCTest
@testable import KithUV

/// An `HTTPServer` on its own loop thread, so a test can talk to it with blocking sockets. `stop()`
/// closes every handle and joins the thread; call it in a `defer`.
final class HTTPServerHarness: @unchecked Sendable {
    let loop: EventLoop
    private(set) var server: HTTPServer!
    private let finished = DispatchSemaphore(value: 0)

    init(settings: HTTPServer.Settings = HTTPServer.Settings(),
         handler: @escaping (HTTPRequest) -> HTTPResponse) throws {
        loop = try EventLoop()
        server = try HTTPServer(loop: loop, host: "127.0.0.1", port: 0, settings: settings, handler: handler)
        let loop = self.loop
        let finished = self.finished
        Thread.detachNewThread {
            loop.run()
            finished.signal()
        }
    }

    var port: UInt16 { server.boundPort }

    /// Runs `work` on the loop thread and returns its result.
    func onLoop<T>(_ work: @escaping () -> T) -> T {
        let box = LoopBox<(work: () -> T, result: T?)>((work, nil))
        let done = DispatchSemaphore(value: 0)
        loop.post {
            box.value.result = box.value.work()
            done.signal()
        }
        done.wait()
        return box.value.result!
    }

    func stop() {
        let loop = self.loop
        loop.post { loop.closeAll() }
        finished.wait()
        repeat {
            loop.closeAll()
            loop.run()
        } while uv_loop_alive(loop.uvLoop) != 0
    }
}

/// A response as the test client read it.
struct ReceivedResponse {
    let status: Int
    let headers: [String: String]  // names lowercased
    let body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking loopback client whose reads give up after `timeoutMilliseconds`, for requests that
/// KithUV's own connections would never send.
final class HTTPTestClient {
    private let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    private var buffered: [UInt8] = []
    /// errno of the last failed recv.
    private var lastError: Int32 = 0

    init(port: UInt16, receiveBufferBytes: Int32? = nil, timeoutMilliseconds: Int = 3000) throws {
        if var size = receiveBufferBytes {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else { throw UVError(code: -errno) }
    }

    deinit {
        Glibc.close(fd)
    }

    func send(_ text: String) {
        send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return }
            offset += written
        }
    }

    /// `GET path` with optional extra header lines.
    func get(_ path: String, method: String = "GET", headers: [String] = []) -> ReceivedResponse? {
        send("\(method) \(path) HTTP/1.1\r\nHost: test\r\n" + headers.map { "\($0)\r\n" }.joined() + "\r\n")
        return readResponse(bodyExpected: method != "HEAD")
    }

    /// The next response, reading its body by `Content-Length`; nil when the connection ends or the
    /// read times out first.
    func readResponse(bodyExpected: Bool = true) -> ReceivedResponse? {
        guard let headEnd = readUntil(Array("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: buffered[..<headEnd], as: UTF8.self)
        buffered.removeFirst(headEnd + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = bodyExpected ? Int(headers["content-length"] ?? "0") ?? 0 : 0
        while buffered.count < length {
            guard receive() > 0 else { return nil }
        }
        let body = Array(buffered[..<length])
        buffered.removeFirst(length)
        return ReceivedResponse(status: status, headers: headers, body: body)
    }

    /// Reads until `marker` has arrived; its offset in the buffer, or nil at the end of the stream or a timeout.
    func readUntil(_ marker: [UInt8]) -> Int? {
        var searchFrom = 0
        while true {
            if buffered.count >= marker.count {
                for start in searchFrom...(buffered.count - marker.count)
                where buffered[start..<(start + marker.count)].elementsEqual(marker) {
                    return start
                }
                searchFrom = buffered.count - marker.count + 1
            }
            guard receive() > 0 else { return nil }
        }
    }

    /// Takes `count` bytes from what has arrived, reading more as needed; nil if the stream ends first.
    func take(_ count: Int) -> [UInt8]? {
        while buffered.count < count {
            guard receive() > 0 else { return nil }
        }
        defer { buffered.removeFirst(count) }
        return Array(buffered[..<count])
    }

    /// Whether the server closes the connection (end of stream or reset) before the read timeout,
    /// discarding whatever else arrives first.
    func isClosedByServer() -> Bool {
        while true {
            let count = receive()
            if count == 0 { return true }
            if count < 0 { return lastError != EAGAIN && lastError != EWOULDBLOCK }
            buffered.removeAll()
        }
    }

    /// One recv into the buffer: the byte count, 0 at the end of the stream, -1 on error or timeout.
    private func receive() -> Int {
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count < 0 { lastError = errno }
        if count > 0 { buffered.append(contentsOf: chunk[..<count]) }
        return count
    }
}
