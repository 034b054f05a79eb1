/// A feed of Server-Sent Events that any number of HTTP clients follow. A route returns
/// `HTTPResponse.eventStream(channel)` to subscribe the client; the owner keeps the channel and calls
/// `publish` whenever something happens. Each client's unsent bytes are bounded by
/// `HTTPServer.Settings.sendQueueBytesMax`: a client that falls that far behind is dropped (closed), so
/// a slow or stalled reader never blocks the loop nor grows memory. Loop thread only.
public final class HTTPEventChannel {
    /// Clients dropped for falling behind, since the channel was made.
    public private(set) var clientsDropped = 0

    private var clients: [ObjectIdentifier: StreamConnection] = [:]

    public init() {}

    public var clientCount: Int { clients.count }

    /// Sends `event` to every client.
    public func publish(_ event: ServerSentEvent) {
        broadcast(event.encoded)
    }

    /// Sends a comment line, which clients ignore: it keeps proxies from timing the stream out and
    /// surfaces dead clients as write errors.
    public func heartbeat() {
        broadcast(Array(":\n\n".utf8))
    }

    /// Starts sending to `connection`, after `initialBytes` (the response head and initial events).
    func subscribe(_ connection: StreamConnection, initialBytes: [UInt8]) {
        guard connection.send(initialBytes) else { return drop(connection) }
        clients[ObjectIdentifier(connection)] = connection
    }

    /// Called when a client's connection has closed.
    func unsubscribe(_ connection: StreamConnection) {
        clients[ObjectIdentifier(connection)] = nil
    }

    private func broadcast(_ bytes: [UInt8]) {
        for connection in clients.values where !connection.send(bytes) {
            drop(connection)
        }
    }

    private func drop(_ connection: StreamConnection) {
        clients[ObjectIdentifier(connection)] = nil
        if connection.isOpen { clientsDropped += 1 }  // not one already on its way out
        connection.close()
    }
}
