import CLibUV

/// A small HTTP/1.1 server on the event loop, for read-only endpoints (metrics, health, a JSON API,
/// Server-Sent Events). Requests are parsed by http_parser within `Settings`' bounds; the server answers
/// what it can itself (400, 401, 405, 408, 413, 431, 503) and hands every other complete GET or HEAD to
/// `handler`, which returns its response at once. Keep-alive and pipelining follow HTTP/1.1. Loop thread only.
public final class HTTPServer {
    /// The port actually bound, which differs from the requested one when that was 0.
    public private(set) var boundPort: UInt16 = 0
    public private(set) var statistics = Statistics()
    /// Called for each request the server refuses itself (400, 408, 413, 431, 503) with the status, why,
    /// and the client's address, e.g. to log it.
    public var onRejected: ((_ status: Int, _ reason: String, _ peerAddress: String) -> Void)?

    private let settings: Settings
    private let handler: (HTTPRequest) -> HTTPResponse
    private let loop: EventLoop
    private var listener: TCPListener?
    private var connections: [ObjectIdentifier: HTTPServerConnection] = [:]

    /// Binds `host` (an IP literal) and starts serving. Settings must pass `Settings.validate()`.
    public init(
        loop: EventLoop, host: String, port: UInt16, settings: Settings = Settings(),
        handler: @escaping (HTTPRequest) -> HTTPResponse
    ) throws(UVError) {
        let problems = settings.validate()
        precondition(problems.isEmpty, "invalid HTTPServer.Settings: \(problems.joined(separator: "; "))")
        self.loop = loop
        self.settings = settings
        self.handler = handler
        let listener = try TCPListener(loop: loop, host: host, port: port, framing: .raw,
                                       maxQueuedBytes: settings.sendQueueBytesMax) { [weak self] connection in
            guard let self else { return connection.close() }
            accept(connection)
        }
        self.listener = listener
        boundPort = listener.boundPort
    }

    deinit {
        close()  // connections call back into the server; none may outlive it
    }

    /// Open connections, event streams included.
    public var connectionCount: Int { connections.count }

    /// Stops accepting and closes every connection, dropping unsent bytes. Idempotent.
    public func close() {
        listener?.close()
        listener = nil
        for connection in connections.values { connection.close() }
    }

    private func accept(_ connection: TCPConnection) {
        guard connections.count < settings.connectionsMax else {
            statistics.connectionsRefused += 1
            count(503)
            onRejected?(503, "\(settings.connectionsMax) connections open", connection.peerAddress)
            connection.send(HTTPResponse.status(503).message(keepAlive: false, omittingBody: false)!)
            connection.shutdownAndClose()
            return
        }
        statistics.connectionsAccepted += 1
        let key = ObjectIdentifier(connection)
        connections[key] = HTTPServerConnection(
            connection: connection, loop: loop, settings: settings,
            respond: { [unowned self] request in
                let response = response(to: request)
                count(response.status)
                return response
            },
            reject: { [unowned self] status, reason, peerAddress in
                count(status)
                onRejected?(status, reason, peerAddress)
            },
            onClosed: { [weak self] in self?.connections[key] = nil })
    }

    /// The server's own checks, then the handler: a CORS preflight answered, 405 for methods other than
    /// GET and HEAD, 401 without the bearer token (when one is set and the path is not exempt).
    func response(to request: HTTPRequest) -> HTTPResponse {
        guard let prefix = settings.crossOriginPathPrefix, request.path.hasPrefix(prefix) else { return checked(request) }
        var response = request.method == "OPTIONS" ? HTTPResponse(status: 204, headers: [
            ("Access-Control-Allow-Methods", "GET, HEAD"), ("Access-Control-Allow-Headers", "Authorization"),
            ("Access-Control-Max-Age", "600"),
        ]) : checked(request)
        response.headers.append(("Access-Control-Allow-Origin", "*"))
        return response
    }

    private func checked(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == "GET" || request.isHead else {
            var response = HTTPResponse.status(405)
            response.headers.append(("Allow", "GET, HEAD"))
            return response
        }
        if let token = settings.bearerToken, !settings.unauthenticatedPaths.contains(request.path),
           !bearerTokenMatches(request.header("authorization"), token) {
            var response = HTTPResponse.status(401)
            response.headers.append(("WWW-Authenticate", "Bearer realm=\"kith\""))
            return response
        }
        return handler(request)
    }

    private func count(_ status: Int) {
        statistics.responsesByStatus[status, default: 0] += 1
    }
}

/// Whether `authorization` is "Bearer <token>" (scheme case-insensitive), comparing the token in time
/// that does not depend on where it differs.
func bearerTokenMatches(_ authorization: String?, _ token: String) -> Bool {
    guard let authorization else { return false }
    let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
    guard parts.count == 2, parts[0].lowercased() == "bearer" else { return false }
    let given = Array(parts[1].utf8)
    let expected = Array(token.utf8)
    guard given.count == expected.count else { return false }
    return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
}
