extension HTTPServer {
    /// The bounds that keep a client, slow or hostile, from costing more than a known amount.
    /// Worst case memory: `connectionsMax * (64 KiB read buffer + headerBytesMax + bodyBytesMax + sendQueueBytesMax)`.
    public struct Settings: Sendable {
        /// Open connections at once (event streams included); the next one gets 503 and is closed.
        public var connectionsMax = 256
        /// Request line plus header fields, in bytes; more gets 431.
        public var headerBytesMax = 8 << 10
        /// Header fields per request; more gets 431.
        public var headersCountMax = 64
        /// Request body bytes; more gets 413. Only GET and HEAD are served, which rarely carry one.
        public var bodyBytesMax = 16 << 10
        /// From accepting a connection, or answering its previous request, to having the next request
        /// whole: a partial request then gets 408, an idle connection is closed. Also the grace a closing
        /// connection gets to take its last response.
        public var requestTimeout: Duration = .seconds(10)
        /// Unsent response bytes per connection; an event-stream client that falls this far behind is dropped.
        public var sendQueueBytesMax = 1 << 20
        /// When set, requests must carry `Authorization: Bearer <token>` or get 401.
        public var bearerToken: String?
        /// Paths served without the token, e.g. probes that cannot send headers.
        public var unauthenticatedPaths: Set<String> = []
        /// Paths under this prefix may be read by pages from any origin (CORS): every answer there, 401
        /// included, carries `Access-Control-Allow-Origin: *`, and an `OPTIONS` preflight there is answered
        /// 204 without the token (browsers never send credentials with one), allowing GET and HEAD with an
        /// `Authorization` header. Nil: no cross-origin reads, `OPTIONS` gets 405.
        public var crossOriginPathPrefix: String?

        public init() {}

        /// Readable complaints about settings that cannot work, empty when they are fine.
        public func validate() -> [String] {
            var problems: [String] = []
            if connectionsMax < 1 { problems.append("connectionsMax must be at least 1, but was \(connectionsMax)") }
            if headerBytesMax < 64 { problems.append("headerBytesMax must be at least 64, but was \(headerBytesMax)") }
            if headersCountMax < 1 { problems.append("headersCountMax must be at least 1, but was \(headersCountMax)") }
            if bodyBytesMax < 0 { problems.append("bodyBytesMax must not be negative, but was \(bodyBytesMax)") }
            if requestTimeoutMilliseconds < 1 {
                problems.append("requestTimeout must be at least 1 ms, but was \(requestTimeout)")
            }
            if sendQueueBytesMax < 1024 {
                problems.append("sendQueueBytesMax must be at least 1024, but was \(sendQueueBytesMax)")
            }
            if let bearerToken, bearerToken.isEmpty { problems.append("bearerToken must not be empty when set") }
            return problems
        }

        /// `requestTimeout` for a libuv timer.
        var requestTimeoutMilliseconds: UInt64 {
            let (seconds, attoseconds) = requestTimeout.components
            guard seconds >= 0, attoseconds >= 0 else { return 0 }
            return UInt64(seconds) * 1000 + UInt64(attoseconds / 1_000_000_000_000_000)
        }
    }

    /// What the server has done since it started, for metrics.
    public struct Statistics: Sendable {
        /// Responses written, by status code (the handler's and the server's own 4xx/5xx).
        public var responsesByStatus: [Int: UInt64] = [:]
        /// Connections turned away because `connectionsMax` were open.
        public var connectionsRefused: UInt64 = 0
        /// Connections accepted and served.
        public var connectionsAccepted: UInt64 = 0
    }
}
