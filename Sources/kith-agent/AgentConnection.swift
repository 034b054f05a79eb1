import Glibc
import KithCore

/// The daemon's agent socket: newline-delimited JSON over a Unix stream socket.
///
/// One thread: `receive` polls with a timeout so the caller can run its
/// timer between reads. Requests get integer ids; their replies go to the
/// handler given with the request, and only events reach the caller.
final class AgentConnection {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    enum Incoming {
        /// A pushed event (`"event"` key, no `"ok"`).
        case event(JSON)
        /// Nothing complete arrived within the timeout (or a reply went to its handler).
        case idle
        /// The daemon closed the connection.
        case closed
    }

    /// The protocol's bound on one line, newline excluded.
    static let maxLine = 1 << 20

    private let fd: Int32
    private var buffer: [UInt8] = []
    private var lines: [[UInt8]] = []
    /// Events that arrived while `call` waited for its reply.
    private var deferred: [JSON] = []
    private var nextID: Int64 = 1
    private var handlers: [Int64: (JSON) -> Void] = [:]

    /// Connects, retrying `attempts` times `delayMilliseconds` apart: the daemon
    /// may start the agent a moment before its socket accepts.
    init(path: String, attempts: Int = 10, delayMilliseconds: Int = 50) throws(Failure) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { throw Failure(description: "socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        var lastError: Int32 = 0
        for attempt in 0..<max(1, attempts) {
            if attempt > 0 { usleep(UInt32(delayMilliseconds) * 1000) }
            let candidate = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard candidate >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(candidate, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if result == 0 {
                fd = candidate
                return
            }
            lastError = errno
            close(candidate)
        }
        throw Failure(description: "cannot connect to \(path): \(String(cString: strerror(lastError)))")
    }

    deinit { close(fd) }

    /// Sends a request; `reply` later gets the daemon's answer (`"ok"` true or false).
    func request(_ fields: [String: JSON], reply: ((JSON) -> Void)? = nil) throws(Failure) {
        let id = nextID
        nextID += 1
        var object = fields
        object["id"] = .int(id)
        if let reply { handlers[id] = reply }
        try write(.object(object))
    }

    /// Sends a request and waits up to `timeoutMilliseconds` for its reply;
    /// events that arrive meanwhile are kept for `receive`.
    func call(_ fields: [String: JSON], timeoutMilliseconds: Int) throws(Failure) -> JSON {
        var answer: JSON?
        try request(fields) { answer = $0 }
        let deadline = Clock.milliseconds + Int64(timeoutMilliseconds)
        while answer == nil {
            let left = deadline - Clock.milliseconds
            guard left > 0 else { throw Failure(description: "no reply to \(fields["op"]?.stringValue ?? "request") in \(timeoutMilliseconds) ms") }
            switch try next(timeoutMilliseconds: Int32(left)) {
            case .event(let event): deferred.append(event)
            case .idle: break
            case .closed: throw Failure(description: "the daemon closed the connection")
            }
        }
        return answer!
    }

    /// Waits up to `timeoutMilliseconds` for input; replies are handed to their handlers.
    func receive(timeoutMilliseconds: Int32) throws(Failure) -> Incoming {
        if !deferred.isEmpty { return .event(deferred.removeFirst()) }
        return try next(timeoutMilliseconds: timeoutMilliseconds)
    }

    private func next(timeoutMilliseconds: Int32) throws(Failure) -> Incoming {
        if lines.isEmpty {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, max(0, timeoutMilliseconds))
            if ready < 0 && errno != EINTR { throw Failure(description: "poll: \(String(cString: strerror(errno)))") }
            guard ready > 0 else { return .idle }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { return .idle }
                if errno == ECONNRESET { return .closed }
                throw Failure(description: "read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { return .closed }
            try split(chunk[..<count])
        }
        guard !lines.isEmpty else { return .idle }
        let line = lines.removeFirst()
        let message: JSON
        do {
            message = try JSON.parse(bytes: line)
        } catch {
            writeStderr("kith-agent: ignoring a line that is not JSON (\(error))\n")
            return .idle
        }
        let keys = message.objectValue?.keys
        if keys?.contains("event") == true && keys?.contains("ok") != true { return .event(message) }
        if let id = message["id"]?.intValue, let handler = handlers.removeValue(forKey: id) {
            handler(message)
        } else if message["ok"]?.boolValue == false {
            writeStderr("kith-agent: daemon error: \(message["error"]?.stringValue ?? message.serialized())\n")
        }
        return .idle
    }

    /// Appends bytes to the buffer and moves every complete line out of it.
    private func split(_ bytes: ArraySlice<UInt8>) throws(Failure) {
        let newline = UInt8(ascii: "\n")
        var start = buffer.count
        buffer.append(contentsOf: bytes)
        var lineStart = 0
        while let end = buffer[start...].firstIndex(of: newline) {
            guard end - lineStart <= Self.maxLine + 1 else {
                throw Failure(description: "a line from the daemon exceeds \(Self.maxLine) bytes")
            }
            var line = Array(buffer[lineStart..<end])
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if !line.isEmpty { lines.append(line) }
            lineStart = end + 1
            start = lineStart
        }
        buffer.removeFirst(lineStart)
        if buffer.count > Self.maxLine {
            throw Failure(description: "a line from the daemon exceeds \(Self.maxLine) bytes")
        }
    }

    private func write(_ message: JSON) throws(Failure) {
        let bytes = Array((message.serialized() + "\n").utf8)
        guard bytes.count <= Self.maxLine + 1 else { throw Failure(description: "request exceeds \(Self.maxLine) bytes") }
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "write: \(String(cString: strerror(errno)))")
            }
            sent += count
        }
    }
}
