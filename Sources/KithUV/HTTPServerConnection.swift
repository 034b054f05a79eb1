/// One client of `HTTPServer`: feeds its bytes to an `HTTPRequestParser`, answers each request in order,
/// and enforces the request deadline. It lives until its connection closes, or, for an event stream,
/// until the client leaves or is dropped by its `HTTPEventChannel`.
final class HTTPServerConnection {
    private enum State {
        /// Waiting for or reading requests, under the deadline.
        case serving
        /// Subscribed to `channel`; no deadline, and whatever the client sends is ignored.
        case streaming(HTTPEventChannel)
        /// The last response is queued; the connection closes once it is sent (or at the deadline).
        case finishing
    }

    private let connection: StreamConnection
    private let parser: HTTPRequestParser
    private let deadline: Timer
    private let requestTimeoutMilliseconds: UInt64
    private let respond: (HTTPRequest) -> HTTPResponse
    private let reject: (_ status: Int, _ reason: String, _ peerAddress: String) -> Void
    private var state = State.serving

    init(
        connection: StreamConnection, loop: EventLoop, settings: HTTPServer.Settings,
        respond: @escaping (HTTPRequest) -> HTTPResponse,
        reject: @escaping (_ status: Int, _ reason: String, _ peerAddress: String) -> Void,
        onClosed: @escaping () -> Void
    ) {
        self.connection = connection
        parser = HTTPRequestParser(headerBytesMax: settings.headerBytesMax, headersCountMax: settings.headersCountMax,
                                   bodyBytesMax: settings.bodyBytesMax)
        deadline = Timer(loop: loop)
        requestTimeoutMilliseconds = settings.requestTimeoutMilliseconds
        self.respond = respond
        self.reject = reject
        // The connection's callbacks hold this object; they are cleared when it closes, ending the cycle.
        connection.onFrame = { [self] bytes in didReceive(bytes) }
        connection.onClose = { [self] _ in
            deadline.close()
            if case .streaming(let channel) = state { channel.unsubscribe(connection) }
            onClosed()
        }
        armDeadline()
    }

    /// Closes now, dropping unsent bytes.
    func close() {
        connection.close()
    }

    private func didReceive(_ bytes: [UInt8]) {
        guard case .serving = state else { return }
        for outcome in parser.feed(bytes) {
            guard case .serving = state else { return }
            switch outcome {
            case .request(var request, let keepAlive):
                request.peerAddress = connection.peerAddress
                answer(request, with: respond(request), keepAlive: keepAlive)
            case .rejected(let status, let reason):
                reject(status, reason, connection.peerAddress)
                finish(with: .status(status))
            }
        }
    }

    private func answer(_ request: HTTPRequest, with response: HTTPResponse, keepAlive: Bool) {
        switch response.body {
        case .bytes:
            guard keepAlive else { return finish(with: response, omittingBody: request.isHead) }
            guard connection.send(response.message(keepAlive: true, omittingBody: request.isHead)!) else {
                return connection.close()
            }
            armDeadline()
        case .eventStream(let channel, let initialEvents):
            let head = response.head(contentLength: nil, keepAlive: false)
            guard !request.isHead else {
                connection.send(head)
                return finishSending()
            }
            deadline.stop()
            state = .streaming(channel)
            channel.subscribe(connection, initialBytes: head + initialEvents.flatMap(\.encoded))
        }
    }

    /// Sends `response` with `Connection: close`, then closes.
    private func finish(with response: HTTPResponse, omittingBody: Bool = false) {
        connection.send(response.message(keepAlive: false, omittingBody: omittingBody)!)
        finishSending()
    }

    /// Lets queued bytes go out, then closes; a client that will not take them is cut off at the deadline.
    private func finishSending() {
        state = .finishing
        connection.pauseReading()
        // Inside a read callback the response is still corked, and shutting down now would drop it:
        // shut down on the next loop iteration, once it has been handed to libuv.
        deadline.start(afterMilliseconds: 0) { [weak self] in
            guard let self else { return }
            connection.shutdownAndClose()
            armDeadline()
        }
    }

    private func armDeadline() {
        deadline.start(afterMilliseconds: requestTimeoutMilliseconds) { [weak self] in self?.deadlinePassed() }
    }

    private func deadlinePassed() {
        guard case .serving = state, parser.hasPartialRequest else { return connection.close() }
        reject(408, "request incomplete after \(requestTimeoutMilliseconds) ms", connection.peerAddress)
        finish(with: .status(408))
    }
}
