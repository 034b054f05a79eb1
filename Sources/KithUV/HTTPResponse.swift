import CHTTPParser

/// What a route handler answers. The server adds the framing headers itself (`Content-Length`,
/// `Connection`), so a handler cannot get them wrong.
public struct HTTPResponse {
    /// A body sent at once, or an event stream that keeps the connection open for `HTTPEventChannel`.
    public enum Body {
        case bytes([UInt8])
        /// `text/event-stream`: `initialEvents` go first (e.g. a snapshot), then whatever the channel publishes.
        case eventStream(HTTPEventChannel, initialEvents: [ServerSentEvent])
    }

    public var status: Int
    /// Extra header fields; CR and LF are removed from names and values when the response is written.
    public var headers: [(name: String, value: String)]
    public var body: Body

    public init(status: Int, headers: [(name: String, value: String)] = [], body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A complete body with its `Content-Type`.
    public init(status: Int = 200, contentType: String, body: [UInt8]) {
        self.init(status: status, headers: [("Content-Type", contentType)], body: .bytes(body))
    }

    public static func text(_ text: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }

    public static func json(_ body: [UInt8], status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json", body: body)
    }

    public static func html(_ body: [UInt8], status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/html; charset=utf-8", body: body)
    }

    /// Subscribes the client to `channel`; see `HTTPEventChannel`.
    public static func eventStream(_ channel: HTTPEventChannel, initialEvents: [ServerSentEvent] = []) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")],
                     body: .eventStream(channel, initialEvents: initialEvents))
    }

    /// A plain-text response whose body is the status line's reason, e.g. "404 Not Found".
    public static func status(_ status: Int) -> HTTPResponse {
        .text("\(status) \(reasonPhrase(status))\n", status: status)
    }

    public static var notFound: HTTPResponse { status(404) }
}

/// The reason phrase http_parser knows for `status`, e.g. "Not Found".
func reasonPhrase(_ status: Int) -> String {
    guard let code = UInt32(exactly: status) else { return "Unknown" }
    return String(cString: http_status_str(http_status(rawValue: code)))
}
