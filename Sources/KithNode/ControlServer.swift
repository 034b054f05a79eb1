import KithCore
import KithUV

/// The operator's port: one JSON request per line, one JSON answer per line.
///
/// Lines are bounded by the transport; anything that is not a JSON object
/// with a known `cmd` gets `{"ok":false,"error":...}` and the connection
/// stays usable, so one bad client never disturbs the daemon. Connections
/// are capped and must send a request within `requestDeadline`; when the
/// cap is reached the longest-quiet connection makes room, so a flood of
/// idle connections can never lock the operator out of `kill-switch`.
final class ControlServer {
    private var listener: TCPListener?
    private var connections: [ObjectIdentifier: TCPConnection] = [:]
    private let pool: ConnectionPool
    private let handle: (String, JSON) -> JSON

    /// A signed request carries a spec or a reason, never more than a few KiB; 1 MiB leaves room for
    /// any agent spec the registry accepts.
    static let maxLineBytes = 1 << 20
    /// Connections held at once; `kithctl` opens one per request, so even a busy fleet script needs a few.
    static let maxConnections = 256
    /// A client must send its request this soon after connecting (or after its last answer): `kithctl`
    /// sends at once, so only idle sockets ever wait this long.
    static let requestDeadline = Duration.seconds(10)
    /// Command names are short words (`kill-switch`); a longer one is refused before anything logs it.
    static let commandBytesMax = 64

    static let limits = ConnectionPool.Limits(
        connectionsMax: maxConnections, connectionsPerAddressMax: maxConnections, helloDeadline: requestDeadline,
        silentMayWait: false, idleDeadline: requestDeadline, eviction: .leastRecentlyActive)

    /// Connections refused, evicted or closed for sending nothing in time.
    var connectionsShed: UInt64 { pool.refusedCount + pool.evictedCount + pool.expiredCount }

    /// `handle` gets the command name and the whole request and returns the answer.
    init(loop: EventLoop, host: String, port: UInt16, handle: @escaping (String, JSON) -> JSON) throws(UVError) {
        self.handle = handle
        pool = ConnectionPool(loop: loop, limits: ControlServer.limits)
        listener = try TCPListener(loop: loop, host: host, port: port,
                                   framing: .lines(maxLineBytes: ControlServer.maxLineBytes)) { [weak self] connection in
            self?.accept(connection)
        }
    }

    private func accept(_ connection: TCPConnection) {
        guard pool.admit(connection) else { return }
        let key = ObjectIdentifier(connection)
        connections[key] = connection
        connection.onFrame = { [weak self, unowned connection] line in
            guard let self else { return }
            connection.send(Array(ControlServer.cutShort(self.answer(line)).serialized().utf8))
            self.pool.noteValid(connection)
        }
        connection.onClose = { [weak self] _ in
            self?.pool.remove(connection)
            self?.connections[key] = nil
        }
    }

    private func answer(_ line: [UInt8]) -> JSON {
        let request: JSON
        do { request = try JSON.parse(bytes: line) } catch {
            return ["ok": false, "error": .string("malformed request: \(error)".cutShort(toUTF8Bytes: ControlServer.commandBytesMax * 4))]
        }
        guard let cmd = request["cmd"]?.stringValue else {
            return ["ok": false, "error": "request must be a JSON object with a string \"cmd\""]
        }
        guard cmd.utf8.count <= ControlServer.commandBytesMax else {
            return ["ok": false, "error": .string("unknown command '\(cmd.cutShort(toUTF8Bytes: ControlServer.commandBytesMax))'")]
        }
        return handle(cmd, request)
    }

    /// A refusal's `error` at most `Logger.fieldBytesMax` bytes: refusals quote the request (the node a
    /// command was signed for, its name), and a 1 MiB request must not come back as a 1 MiB answer.
    static func cutShort(_ answer: JSON) -> JSON {
        guard answer["ok"]?.boolValue == false, var object = answer.objectValue,
              let error = object["error"]?.stringValue else { return answer }
        object["error"] = .string(error.cutShort(toUTF8Bytes: Logger.fieldBytesMax))
        return .object(object)
    }

    func close() {
        pool.close()
        listener?.close()
        listener = nil
        for connection in connections.values { connection.close() }
        connections = [:]
    }
}
