import Glibc
import KithCore

/// A bare, non-blocking connection to the agent socket for the bench modes:
/// lines are scanned as bytes (no JSON parse) and written many per write(2).
final class LineSocket {
    let fd: Int32
    /// Received bytes; `start..<end` not yet consumed.
    private var inbox: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Connects (retrying, as `AgentConnection` does), says hello and returns once it was accepted.
    /// Afterwards the socket is non-blocking.
    init(options: Options) throws(Failure) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = options.socketPath
        guard path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Failure(description: "socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        var connected: Int32 = -1
        var lastError: Int32 = 0
        for attempt in 0..<10 {
            if attempt > 0 { usleep(50_000) }
            let candidate = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard candidate >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(candidate, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if result == 0 { connected = candidate; break }
            lastError = errno
            close(candidate)
        }
        guard connected >= 0 else { throw Failure(description: "cannot connect to \(path): \(String(cString: strerror(lastError)))") }
        fd = connected
        inbox = .allocate(byteCount: 4 << 20, alignment: 8)

        let hello: JSON = ["op": "hello", "id": 0, "agent": .string(options.agent), "token": .string(options.token)]
        var line = Array(hello.serialized().utf8)
        line.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < line.count {
            let sent = line[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { throw Failure(description: "write: \(String(cString: strerror(errno)))") }
            offset += sent
        }
        var reply: [UInt8]?
        while reply == nil {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 5000) > 0 else { throw Failure(description: "no reply to hello in 5 s") }
            guard try fill() != nil else { throw Failure(description: "the daemon closed the connection during hello") }
            forEachLine { bytes in
                if reply == nil && !Self.contains(bytes, Self.eventKey) { reply = Array(bytes) }
            }
        }
        guard let reply, reply.withUnsafeBytes({ Self.contains($0, Self.okTrue) }) else {
            throw Failure(description: "hello failed: \(String(decoding: reply ?? [], as: UTF8.self))")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(fd)
        inbox.deallocate()
    }

    static let okTrue = Array("\"ok\":true".utf8)
    static let okFalse = Array("\"ok\":false".utf8)
    static let eventKey = Array("\"event\":".utf8)
    static let messageEvent = Array("\"event\":\"message\"".utf8)

    /// Reads what is available into the inbox: the number of bytes read (0 when nothing
    /// was there), nil when the daemon closed the connection.
    func fill() throws(Failure) -> Int? {
        if start == end { start = 0; end = 0 }
        if end == inbox.count {
            // Compact: move the unfinished line to the front.
            let pending = end - start
            guard pending < inbox.count else { throw Failure(description: "a line from the daemon exceeds \(inbox.count) bytes") }
            if pending > 0 { inbox.baseAddress!.copyMemory(from: inbox.baseAddress! + start, byteCount: pending) }
            start = 0
            end = pending
        }
        while true {
            let count = recv(fd, inbox.baseAddress! + end, inbox.count - end, 0)
            if count > 0 { end += count; return count }
            if count == 0 { return nil }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return 0
            case ECONNRESET: return nil
            default: throw Failure(description: "read: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Hands every complete line in the inbox to `body` (valid only during the call) and consumes it.
    func forEachLine(_ body: (UnsafeRawBufferPointer) -> Void) {
        let base = UnsafeRawPointer(inbox.baseAddress!)
        var lineStart = start
        while lineStart < end, let newline = memchr(base + lineStart, 0x0A, end - lineStart) {
            let lineEnd = base.distance(to: UnsafeRawPointer(newline))
            if lineEnd > lineStart { body(UnsafeRawBufferPointer(start: base + lineStart, count: lineEnd - lineStart)) }
            lineStart = lineEnd + 1
        }
        start = lineStart
    }

    /// Writes as much of `bytes[offset...]` as the socket takes now; returns the new offset.
    /// Throws when the daemon is gone.
    func write(_ bytes: UnsafeRawBufferPointer, from offset: Int) throws(Failure) -> Int {
        var offset = offset
        while offset < bytes.count {
            let sent = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if sent > 0 { offset += sent; continue }
            if sent < 0 && errno == EINTR { continue }
            if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            throw Failure(description: "write: \(String(cString: strerror(errno)))")
        }
        return offset
    }

    /// Waits up to `milliseconds` for input (and for room to write, when `writing`).
    func wait(writing: Bool, milliseconds: Int32) {
        var poller = pollfd(fd: fd, events: Int16(POLLIN) | (writing ? Int16(POLLOUT) : 0), revents: 0)
        _ = poll(&poller, 1, milliseconds)
    }

    /// Whether `needle` occurs in `haystack`.
    static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        index(of: needle, in: haystack, from: 0) != nil
    }

    /// Where `needle` first occurs in `haystack` at or after `from`.
    static func index(of needle: [UInt8], in haystack: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard let first = needle.first, haystack.count - from >= needle.count else { return needle.isEmpty ? from : nil }
        var position = from
        let last = haystack.count - needle.count
        while position <= last {
            guard let found = memchr(haystack.baseAddress! + position, Int32(first), last - position + 1) else { return nil }
            let candidate = haystack.baseAddress!.distance(to: UnsafeRawPointer(found))
            if memcmp(haystack.baseAddress! + candidate, needle, needle.count) == 0 { return candidate }
            position = candidate + 1
        }
        return nil
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock the flood stamps and the sink compares with.
func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// Appends the decimal digits of `value` (non-negative) to `out`.
func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
    if value == 0 { out.append(UInt8(ascii: "0")); return }
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                 UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0
    var rest = value
    withUnsafeMutableBytes(of: &digits) { buffer in
        while rest > 0 {
            buffer[count] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            count += 1
        }
        while count > 0 {
            count -= 1
            out.append(buffer[count])
        }
    }
}

/// A duration in seconds with three decimals, a rate as a whole number.
func formatSeconds(_ nanoseconds: Int64) -> String {
    let millis = nanoseconds / 1_000_000
    let fraction = String(millis % 1000)
    return "\(millis / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}

func formatRate(_ count: Int, _ nanoseconds: Int64) -> String {
    guard nanoseconds > 0 else { return "0" }
    return String(Int((Double(count) * 1e9 / Double(nanoseconds)).rounded()))
}
