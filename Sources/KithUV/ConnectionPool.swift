/// Admission and expiry for the connections a server accepts, so that no peer, however many sockets it
/// opens and however slowly it speaks, can hold more than a bounded share of the server.
///
/// The owner `admit`s each accepted connection and calls `noteValid` whenever a connection delivers
/// something valid (a decoded frame, a well-formed request): that is what separates a peer from a
/// socket. A sweep timer closes connections past their deadlines; it runs only while the pool holds
/// connections, so an idle pool never keeps the loop alive. Connections the pool closes end with
/// `CloseReason.local`, like any the owner closes itself.
public final class ConnectionPool {
    /// What a pool allows; see `ConnectionPool`.
    public struct Limits: Sendable {
        /// Connections held at once; beyond this a newcomer evicts one (per `eviction`) or is refused.
        public var connectionsMax: Int
        /// Connections held at once from one peer host (ports ignored).
        public var connectionsPerAddressMax: Int
        /// How long a connection may go without a valid message after it was accepted.
        public var helloDeadline: Duration
        /// Whether a connection that has sent no byte at all escapes `helloDeadline`: a peer may open a
        /// connection before it has anything to say, and a silent socket holds no buffer (it is still
        /// counted, and evicted first when the pool is full under `.oldestUnproven`).
        public var silentMayWait: Bool
        /// How long a connection that has spoken validly may then stay quiet.
        public var idleDeadline: Duration
        /// Who makes room for a newcomer when a limit is reached.
        public var eviction: Eviction

        public init(connectionsMax: Int, connectionsPerAddressMax: Int, helloDeadline: Duration, silentMayWait: Bool,
                    idleDeadline: Duration, eviction: Eviction) {
            precondition(connectionsMax > 0 && connectionsPerAddressMax > 0, "connection limits must be positive")
            precondition(helloDeadline > .zero && idleDeadline > .zero, "connection deadlines must be positive")
            self.connectionsMax = connectionsMax
            self.connectionsPerAddressMax = connectionsPerAddressMax
            self.helloDeadline = helloDeadline
            self.silentMayWait = silentMayWait
            self.idleDeadline = idleDeadline
            self.eviction = eviction
        }
    }

    /// Who makes room when a limit is reached.
    public enum Eviction: Sendable {
        /// The oldest connection that never sent a valid message; a newcomer is refused when every
        /// connection has proven itself (peers that spoke are worth more than sockets that did not).
        case oldestUnproven
        /// The connection that has been quiet longest, proven or not: a flood of idle connections can
        /// never lock out a client that connects and speaks at once.
        case leastRecentlyActive
    }

    /// Why the pool closed or refused a connection, for the owner's counters and logs.
    public enum Shed: Sendable, Equatable {
        case refused, evicted, helloExpired, idleExpired
    }

    private final class Entry {
        let connection: StreamConnection
        let host: String
        let acceptedMs: UInt64
        var lastActiveMs: UInt64
        var proven = false

        init(_ connection: StreamConnection, host: String, nowMs: UInt64) {
            self.connection = connection
            self.host = host
            acceptedMs = nowMs
            lastActiveMs = nowMs
        }
    }

    public let limits: Limits
    /// Called for every connection the pool refuses or closes, before it is closed.
    public var onShed: ((StreamConnection, Shed) -> Void)?
    public private(set) var refusedCount: UInt64 = 0
    public private(set) var evictedCount: UInt64 = 0
    public private(set) var expiredCount: UInt64 = 0

    private let loop: EventLoop
    private var entries: [ObjectIdentifier: Entry] = [:]
    private var sweeper: Timer?
    private var isSweeping = false

    public init(loop: EventLoop, limits: Limits) {
        self.loop = loop
        self.limits = limits
    }

    /// Connections held (closed ones are forgotten at the next admission or sweep).
    public var count: Int { entries.values.count(where: { $0.connection.isOpen }) }

    /// Takes `connection` in, making room per `limits.eviction`; returns false (and closes it) when it
    /// cannot be held.
    @discardableResult
    public func admit(_ connection: StreamConnection) -> Bool {
        forgetClosed()
        let now = loop.nowMilliseconds
        let host = ConnectionPool.host(of: connection.peerAddress)
        let sameHost = entries.values.filter { $0.host == host }
        if sameHost.count >= limits.connectionsPerAddressMax, !evict(from: sameHost) { return refuse(connection) }
        if entries.count >= limits.connectionsMax, !evict(from: Array(entries.values)) { return refuse(connection) }
        entries[ObjectIdentifier(connection)] = Entry(connection, host: host, nowMs: now)
        startSweeping()
        return true
    }

    /// `connection` delivered a valid message: it is a peer, and its idle clock restarts.
    public func noteValid(_ connection: StreamConnection) {
        guard let entry = entries[ObjectIdentifier(connection)] else { return }
        entry.proven = true
        entry.lastActiveMs = loop.nowMilliseconds
    }

    /// Forgets `connection` (the owner saw it close); closing it is the owner's business.
    public func remove(_ connection: StreamConnection) {
        entries[ObjectIdentifier(connection)] = nil
        if entries.isEmpty { stopSweeping() }
    }

    /// Stops the sweeps and forgets every connection, leaving them open for the owner to close.
    public func close() {
        sweeper?.close()
        sweeper = nil
        isSweeping = false
        entries = [:]
    }

    /// Closes every connection past its deadline; the sweep timer calls it, tests may too.
    func sweep() {
        forgetClosed()
        let now = loop.nowMilliseconds
        let helloMs = ConnectionPool.milliseconds(limits.helloDeadline)
        let idleMs = ConnectionPool.milliseconds(limits.idleDeadline)
        for entry in entries.values.sorted(by: { $0.acceptedMs < $1.acceptedMs }) {
            if entry.proven {
                if now >= entry.lastActiveMs + idleMs { expire(entry, .idleExpired) }
            } else if !(limits.silentMayWait && entry.connection.bytesReceived == 0), now >= entry.acceptedMs + helloMs {
                expire(entry, .helloExpired)
            }
        }
        if entries.isEmpty { stopSweeping() }
    }

    private func evict(from candidates: [Entry]) -> Bool {
        let victim: Entry?
        switch limits.eviction {
        case .oldestUnproven:
            victim = candidates.filter { !$0.proven }.min { $0.acceptedMs < $1.acceptedMs }
        case .leastRecentlyActive:
            victim = candidates.min { ($0.lastActiveMs, $0.acceptedMs) < ($1.lastActiveMs, $1.acceptedMs) }
        }
        guard let victim else { return false }
        evictedCount += 1
        drop(victim, .evicted)
        return true
    }

    private func refuse(_ connection: StreamConnection) -> Bool {
        refusedCount += 1
        onShed?(connection, .refused)
        connection.close()
        return false
    }

    private func expire(_ entry: Entry, _ shed: Shed) {
        expiredCount += 1
        drop(entry, shed)
    }

    private func drop(_ entry: Entry, _ shed: Shed) {
        entries[ObjectIdentifier(entry.connection)] = nil
        onShed?(entry.connection, shed)
        entry.connection.close()
    }

    private func forgetClosed() {
        entries = entries.filter { $0.value.connection.isOpen }
    }

    private func startSweeping() {
        guard !isSweeping else { return }
        isSweeping = true
        let period = ConnectionPool.sweepPeriodMilliseconds(limits)
        let sweeper = self.sweeper ?? Timer(loop: loop)
        self.sweeper = sweeper
        sweeper.start(afterMilliseconds: period, repeatMilliseconds: period) { [weak self] in self?.sweep() }
    }

    /// An empty pool has nothing to expire; a stopped timer does not keep the loop alive.
    private func stopSweeping() {
        isSweeping = false
        sweeper?.stop()
    }

    /// Deadlines are enforced to within a quarter of the shorter one, and never sweeping more often than
    /// every `sweepPeriodMillisecondsMin` keeps a pool of thousands cheap.
    static func sweepPeriodMilliseconds(_ limits: Limits) -> UInt64 {
        max(sweepPeriodMillisecondsMin, milliseconds(min(limits.helloDeadline, limits.idleDeadline)) / 4)
    }

    /// 50 ms: short enough for tests with sub-second deadlines, long enough to cost nothing.
    static let sweepPeriodMillisecondsMin: UInt64 = 50

    static func milliseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) * 1000 + UInt64(max(0, attoseconds) / 1_000_000_000_000_000)
    }

    /// The host part of "ip:port" or "[ip]:port" (the whole text when there is no port).
    static func host(of address: String) -> String {
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<close])
        }
        guard let colon = address.lastIndex(of: ":") else { return address }
        return String(address[..<colon])
    }
}
