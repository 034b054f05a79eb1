import KithCore
import KithMetrics
import KithUV

/// The daemon's read-only HTTP endpoint (`--http`): the dashboard page (`DashboardPage`), Prometheus
/// metrics, liveness and readiness probes, a JSON view of members, agents, status and the event log,
/// and a Server-Sent Events feed of new event-log records. It runs on the node's loop, so an answer proves the loop turns; a timer measures how late
/// the loop runs, which `/readyz` and `kith_event_loop_lag_seconds` report.
final class NodeHTTPEndpoint {
    /// How often the lag timer fires; the lag is how late it fires.
    static let lagIntervalMilliseconds: UInt64 = 500
    /// A loop this late (or later) is stalled: `/readyz` answers 503.
    static let stalledLag: Duration = .seconds(1)
    /// Lag ticks between SSE heartbeats (10 s), which keep proxies from timing streams out.
    static let heartbeatTicks = 20

    let server: HTTPServer
    let stream = HTTPEventChannel()
    private let loop: EventLoop
    private let lagTimer: Timer
    private var lastTickNanoseconds: UInt64
    private var ticks = 0
    /// How late the lag timer last fired.
    private(set) var loopLag: Duration = .zero

    init(loop: EventLoop, host: String, port: UInt16, settings: HTTPServer.Settings,
         handler: @escaping (HTTPRequest) -> HTTPResponse) throws(UVError) {
        self.loop = loop
        server = try HTTPServer(loop: loop, host: host, port: port, settings: settings, handler: handler)
        lagTimer = Timer(loop: loop)
        lastTickNanoseconds = loop.hrtimeNanoseconds
        lagTimer.start(afterMilliseconds: Self.lagIntervalMilliseconds, repeatMilliseconds: Self.lagIntervalMilliseconds) {
            [unowned self] in tick()
        }
    }

    private func tick() {
        let now = loop.hrtimeNanoseconds
        let late = Int64(now &- lastTickNanoseconds) - Int64(Self.lagIntervalMilliseconds) * 1_000_000
        loopLag = .nanoseconds(max(0, late))
        lastTickNanoseconds = now
        ticks += 1
        if ticks % Self.heartbeatTicks == 0 { stream.heartbeat() }
    }

    /// The lag as of now: a loop that has not fired its timer for a while is at least that late,
    /// even before the timer catches up.
    var currentLag: Duration {
        let sinceTick = Int64(loop.hrtimeNanoseconds &- lastTickNanoseconds) - Int64(Self.lagIntervalMilliseconds) * 1_000_000
        return max(loopLag, .nanoseconds(max(0, sinceTick)))
    }

    func close() {
        lagTimer.stop()
        lagTimer.close()
        server.close()
    }
}

extension Node {
    /// Paths served without the bearer token: the probes, and the dashboard page, which holds no data
    /// (it reads everything from `/api/v1/*` with the token the operator's URL gives it; see `DashboardPage`).
    static let unauthenticatedPaths: Set<String> = ["/healthz", "/readyz", "/"]

    /// Starts the HTTP endpoint when `--http` is set; throws a readable reason if it cannot.
    func startHTTP() throws(NodeError) {
        guard !config.http.isEmpty else { return }
        guard let address = parseHostPort(config.http) else { throw NodeError("http must be HOST:PORT, got '\(config.http)'") }
        var settings = HTTPServer.Settings()
        // Read-only and without cookies: any page may read it (with the token, when one is set), so the
        // dashboard served by one node can ask every other node for its own view (see `DashboardPage`).
        settings.crossOriginPathPrefix = "/api/v1/"
        if !config.httpTokenFile.isEmpty {
            let token: String
            do { token = try readWholeFile(config.httpTokenFile).trimmingSpaces } catch {
                throw NodeError("cannot read http_token_file \(config.httpTokenFile): \(error)")
            }
            guard !token.isEmpty else { throw NodeError("http_token_file \(config.httpTokenFile) is empty") }
            settings.bearerToken = token
            settings.unauthenticatedPaths = Self.unauthenticatedPaths
        }
        do {
            let endpoint = try NodeHTTPEndpoint(loop: loop, host: address.host, port: address.port, settings: settings) {
                [unowned self] request in self.route(request)
            }
            endpoint.server.onRejected = { [unowned self] status, reason, peer in
                self.logger.debug("http_rejected", ["status": .int(Int64(status)), "reason": .string(reason), "peer": .string(peer)])
            }
            http = endpoint
        } catch {
            throw NodeError("cannot listen for HTTP on \(config.http): \(error)")
        }
    }

    /// Publishes one new event-log record to `/api/v1/stream` followers.
    func streamRecord(_ record: JSON) {
        guard let http, http.stream.clientCount > 0 else { return }
        http.stream.publish(ServerSentEvent(event: record["event"]?.stringValue, data: record.serialized(),
                                            id: record["seq"]?.intValue.map { String($0) }))
    }

    private func route(_ request: HTTPRequest) -> HTTPResponse {
        switch request.path {
        case "/": return .html(Array(DashboardPage.html.utf8))
        case "/healthz": return .text("ok\n")
        case "/readyz": return readiness()
        case "/metrics":
            return HTTPResponse(contentType: PrometheusExposition.contentType, body: Array(metricsText().utf8))
        case "/api/v1/members":
            let now = self.now
            let members = core.membership.members.map { core.memberJSON($0, now: now) }
            return json(["node": .string(config.name), "members": .array(members)])
        case "/api/v1/agents":
            let tombstones = core.registry.tombstones.values.sorted { $0.agent < $1.agent }.map { tombstone -> JSON in
                ["agent": .string(tombstone.agent), "kind": .string(tombstone.kind.name), "epoch": .int(Int64(clamping: tombstone.epoch)),
                 "reason": .string(tombstone.reason), "issued_by": .string(tombstone.issuedBy)]
            }
            return json(["node": .string(config.name), "agents": core.agentsJSON, "tombstones": .array(tombstones)])
        case "/api/v1/status": return json(status())
        case "/api/v1/events": return eventsResponse(request)
        case "/api/v1/stream":
            guard let http else { return .notFound }
            return .eventStream(http.stream)
        default: return .notFound
        }
    }

    private func json(_ body: JSON, status: Int = 200) -> HTTPResponse {
        .json(Array((body.serialized() + "\n").utf8), status: status)
    }

    /// Ready once joined (some other member is alive, or there were no seeds to join) and the loop is
    /// not stalled; 503 with the reasons otherwise.
    private func readiness() -> HTTPResponse {
        let joined = config.join.isEmpty || core.membership.members.contains { $0.id != core.me && $0.status == .alive }
        let lag = http?.currentLag ?? .zero
        let stalled = lag >= NodeHTTPEndpoint.stalledLag
        let ready = joined && !stalled && !leaving
        return json(["ready": .bool(ready), "joined": .bool(joined), "leaving": .bool(leaving),
                     "loop_lag_seconds": .double(lag.seconds)], status: ready ? 200 : 503)
    }

    /// `since_ms` (wall-clock milliseconds) and `limit` (1...100000, default 1000) select the records.
    private func eventsResponse(_ request: HTTPRequest) -> HTTPResponse {
        var sinceMs: Int64?
        if let text = request.queryItem("since_ms") {
            guard let value = Int64(text) else { return json(["error": "since_ms must be an integer"], status: 400) }
            sinceMs = value
        }
        var limit: Int64 = 1000
        if let text = request.queryItem("limit") {
            guard let value = Int64(text), value >= 1 else { return json(["error": "limit must be a positive integer"], status: 400) }
            limit = min(value, 100_000)
        }
        return json(["node": .string(config.name), "public_key": .string(events.publicKeyHex),
                     "last_seq": .int(Int64(events.lastSeq)),
                     "events": .array(events.records(sinceMs: sinceMs, limit: Int(limit)))])
    }
}

extension Duration {
    /// In seconds, the base unit Prometheus and the JSON API use.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
