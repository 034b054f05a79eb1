import KithCore
import KithUV

/// The operator's port: one JSON request per line, one JSON answer per line.
///
/// Lines are bounded by the transport; anything that is not a JSON object
/// with a known `cmd` gets `{"ok":false,"error":...}` and the connection
/// stays usable, so one bad client never disturbs the daemon.
final class ControlServer {
    private var listener: TCPListener?
    private var connections: [ObjectIdentifier: TCPConnection] = [:]
    private let handle: (String, JSON) -> JSON

    static let maxLineBytes = 1 << 20
    static let maxConnections = 256

    /// `handle` gets the command name and the whole request and returns the answer.
    init(loop: EventLoop, host: String, port: UInt16, handle: @escaping (String, JSON) -> JSON) throws(UVError) {
        self.handle = handle
        listener = try TCPListener(loop: loop, host: host, port: port,
                                   framing: .lines(maxLineBytes: ControlServer.maxLineBytes)) { [weak self] connection in
            self?.accept(connection)
        }
    }

    private func accept(_ connection: TCPConnection) {
        guard connections.count < ControlServer.maxConnections else { connection.close(); return }
        let key = ObjectIdentifier(connection)
        connections[key] = connection
        connection.onFrame = { [weak self, unowned connection] line in
            guard let self else { return }
            connection.send(Array(self.answer(line).serialized().utf8))
        }
        connection.onClose = { [weak self] _ in self?.connections[key] = nil }
    }

    private func answer(_ line: [UInt8]) -> JSON {
        let request: JSON
        do { request = try JSON.parse(bytes: line) } catch {
            return ["ok": false, "error": .string("malformed request: \(error)")]
        }
        guard let cmd = request["cmd"]?.stringValue else {
            return ["ok": false, "error": "request must be a JSON object with a string \"cmd\""]
        }
        return handle(cmd, request)
    }

    func close() {
        listener?.close()
        listener = nil
        for connection in connections.values { connection.close() }
        connections = [:]
    }
}
