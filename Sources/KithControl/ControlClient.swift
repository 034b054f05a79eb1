#if canImport(Glibc)
import Glibc
#endif
import KithJSON
import KithCrypto

/// Why a control request failed, worded for an operator.
public enum ControlError: Error, CustomStringConvertible, Sendable {
    /// The address is not `host:port`, or the host does not resolve.
    case badAddress(String, reason: String)
    /// No connection could be made, or it broke before a reply.
    case unreachable(String, reason: String)
    /// The node did not answer in time (a paused daemon looks like this).
    case timedOut(String)
    /// A signed command got no answer in time: the node may still obey it
    /// when it continues, but never after `expiresMs` (wall clock), when it refuses it as expired.
    case unanswered(String, expiresMs: Int64)
    /// The node answered something that is not one JSON object line.
    case badReply(String, reason: String)
    /// The node answered `{"ok":false,"error":...}`.
    case rejected(String, message: String)
    /// The request could not be signed: the operator key's counter file failed.
    case unsigned(String, reason: String)

    public var description: String {
        switch self {
        case .badAddress(let address, let reason): "bad node address \(address): \(reason)"
        case .unreachable(let address, let reason): "cannot reach node at \(address): \(reason)"
        case .timedOut(let address): "node at \(address) did not answer in time"
        case .unanswered(let address, let expiresMs):
            "node at \(address): no answer; it will not be obeyed after \(ControlError.clockTime(milliseconds: expiresMs))"
        case .badReply(let address, let reason): "node at \(address) sent a bad reply: \(reason)"
        case .rejected(let address, let message): "node at \(address) refused the request: \(message)"
        case .unsigned(let address, let reason): "cannot sign the request to \(address): \(reason)"
        }
    }
}

/// A blocking client for a daemon's control port: one JSON line out, one back.
///
/// Each request uses a fresh connection, so a client outlives daemon restarts
/// and pauses without holding state that could go stale. Plain POSIX sockets
/// keep it usable from tests and `kithctl` without an event loop.
public struct ControlClient: Sendable {
    public let address: String
    public let timeoutMilliseconds: Int
    /// Signs every command that is not read-only (see `OperatorRequest.readOnlyCommands`); nil sends requests as given.
    public let signer: OperatorSigner?

    /// Replies larger than this are treated as a broken daemon rather than buffered forever.
    static let maxReplyBytes = 16 << 20

    public init(address: String, timeoutMilliseconds: Int = 2000, signer: OperatorSigner? = nil) {
        self.address = address
        self.timeoutMilliseconds = timeoutMilliseconds
        self.signer = signer
    }

    /// Whether a request needs `auth`: every command but the read-only ones.
    public static func needsSignature(_ json: JSON) -> Bool {
        guard let cmd = json["cmd"]?.stringValue else { return true }
        return !OperatorRequest.readOnlyCommands.contains(cmd)
    }

    /// Sends `json` and returns the reply object; throws `ControlError` on any
    /// failure, including a reply with `"ok": false`. The timeout bounds the whole exchange.
    ///
    /// With a signer, a command that needs a signature and carries no `auth`
    /// yet is signed with a fresh counter (`lockedNextCounter`). If the node
    /// refuses it as replayed because this key's counter file fell behind
    /// what the node accepted (a lost or copied counter file), the counter is
    /// moved past the node's and the request signed and sent once more. A
    /// request that already has `auth` is sent as it is, so one signed request
    /// (one kill-switch epoch) can go to every node.
    public func request(_ json: JSON) throws(ControlError) -> JSON {
        guard let signer, Self.needsSignature(json), json["auth"] == nil else { return try exchange(json) }
        do {
            return try exchange(try sign(json, with: signer))
        } catch .rejected(let address, let message) {
            guard let accepted = Self.replayedCounter(in: message) else { throw .rejected(address, message: message) }
            do {
                try signer.advanceCounter(past: accepted)
            } catch {
                throw .unsigned(address, reason: error.description)
            }
            return try exchange(try sign(json, with: signer))
        }
    }

    private func sign(_ json: JSON, with signer: OperatorSigner) throws(ControlError) -> JSON {
        var json = json
        if signer.cluster == nil, json["cluster"] == nil, case .object(var object) = json {
            object["cluster"] = .string(try clusterName())
            json = .object(object)
        }
        do {
            return signer.sign(json, counter: try signer.nextCounter())
        } catch {
            throw .unsigned(address, reason: error.description)
        }
    }

    /// The cluster the node says it belongs to (its `status`), for a request signed for it.
    public func clusterName() throws(ControlError) -> String {
        try exchange(["cmd": "status"])["cluster"]?.stringValue ?? ""
    }

    /// The counter a node last accepted, from its "replayed command: counter N is not above M" refusal.
    public static func replayedCounter(in message: String) -> UInt64? {
        let marker = "not above "
        guard message.hasPrefix("replayed command") || message.hasPrefix("refused: replayed command"),
              let start = message.indices.first(where: { message[$0...].hasPrefix(marker) }) else { return nil }
        return UInt64(message[message.index(start, offsetBy: marker.count)...].prefix { $0.isNumber })
    }

    /// One exchange: `json` exactly as given, its reply checked.
    ///
    /// A request that timed out may still be obeyed: a paused daemon reads it
    /// from its socket once it continues, but a signed one only until its
    /// `expires_ms`, which the error then names (`unanswered`).
    private func exchange(_ json: JSON) throws(ControlError) -> JSON {
        do {
            return try exchangeOnce(json)
        } catch .timedOut(let address) {
            guard let expiresMs = json["expires_ms"]?.intValue, json["auth"] != nil else { throw .timedOut(address) }
            throw .unanswered(address, expiresMs: expiresMs)
        }
    }

    private func exchangeOnce(_ json: JSON) throws(ControlError) -> JSON {
        let deadline = monotonicMilliseconds() + timeoutMilliseconds
        let fd = try connect(deadline: deadline)
        defer { close(fd) }
        try send(Array((json.serialized() + "\n").utf8), fd: fd, deadline: deadline)
        let line = try receiveLine(fd: fd, deadline: deadline)
        let reply: JSON
        do {
            reply = try JSON.parse(bytes: line)
        } catch {
            throw .badReply(address, reason: error.description)
        }
        guard case .object = reply else { throw .badReply(address, reason: "not a JSON object") }
        guard reply["ok"]?.boolValue == true else {
            throw .rejected(address, message: reply["error"]?.stringValue ?? "no error message")
        }
        return reply
    }

    private func connect(deadline: Int) throws(ControlError) -> Int32 {
        let (host, port) = try splitAddress()
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, port, &hints, &list)
        guard status == 0, let first = list else {
            throw .badAddress(address, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        var lastError = ControlError.unreachable(address, reason: "no usable address")
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry?.pointee {
            entry = info.ai_next
            let fd = socket(info.ai_family, info.ai_socktype | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), info.ai_protocol)
            guard fd >= 0 else { lastError = unreachable(errno); continue }
            if Glibc.connect(fd, info.ai_addr, info.ai_addrlen) == 0 { return fd }
            guard errno == EINPROGRESS else { lastError = unreachable(errno); close(fd); continue }
            do {
                try wait(fd: fd, for: Int16(POLLOUT), deadline: deadline)
            } catch {
                close(fd)
                throw error
            }
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            if soError == 0 { return fd }
            lastError = unreachable(soError)
            close(fd)
        }
        throw lastError
    }

    private func send(_ bytes: [UInt8], fd: Int32, deadline: Int) throws(ControlError) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent >= 0 {
                offset += sent
            } else if errno == EAGAIN || errno == EINTR {
                try wait(fd: fd, for: Int16(POLLOUT), deadline: deadline)
            } else {
                throw unreachable(errno)
            }
        }
    }

    /// Reads until the first newline; bytes after it cannot exist since we sent one request.
    private func receiveLine(fd: Int32, deadline: Int) throws(ControlError) -> [UInt8] {
        var line: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                let received = chunk[..<count]
                if let newline = received.firstIndex(of: UInt8(ascii: "\n")) {
                    return line + received[..<newline]
                }
                line += received
                guard line.count <= Self.maxReplyBytes else { throw .badReply(address, reason: "reply too large") }
            } else if count == 0 {
                throw .unreachable(address, reason: "connection closed before a reply")
            } else if errno == EAGAIN || errno == EINTR {
                try wait(fd: fd, for: Int16(POLLIN), deadline: deadline)
            } else {
                throw unreachable(errno)
            }
        }
    }

    private func wait(fd: Int32, for events: Int16, deadline: Int) throws(ControlError) {
        let remaining = deadline - monotonicMilliseconds()
        guard remaining > 0 else { throw .timedOut(address) }
        var descriptor = pollfd(fd: fd, events: events, revents: 0)
        let ready = poll(&descriptor, 1, Int32(remaining))
        if ready == 0 { throw .timedOut(address) }
        if ready < 0 && errno != EINTR { throw unreachable(errno) }
    }

    /// Splits `host:port`, accepting `[v6]:port`.
    private func splitAddress() throws(ControlError) -> (host: String, port: String) {
        guard let colon = address.lastIndex(of: ":") else {
            throw .badAddress(address, reason: "expected HOST:PORT")
        }
        var host = String(address[..<colon])
        let port = String(address[address.index(after: colon)...])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let number = Int(port), (1...65535).contains(number) else {
            throw .badAddress(address, reason: "expected HOST:PORT")
        }
        return (host, port)
    }

    private func unreachable(_ code: Int32) -> ControlError {
        .unreachable(address, reason: String(cString: strerror(code)).lowercased())
    }
}

extension ControlError {
    /// `HH:MM:SS` in the local time zone: when an unanswered command stops being obeyed.
    static func clockTime(milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }
}

private func monotonicMilliseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
}
