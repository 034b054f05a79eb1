import KithCore
import KithUV

/// Carries membership messages between daemons over TCP.
///
/// One outbound connection per peer endpoint, opened on first use and
/// reopened with capped exponential backoff; inbound connections are only
/// read. A frame that fails to decode closes its connection and is counted:
/// garbage never reaches the core. When a connection to a peer ends, the
/// transport dials it once at once: a refusal means no process listens
/// there any more, which the core takes as hard evidence (`onRefused`).
final class GossipTransport {
    private let loop: EventLoop
    private let logger: Logger
    private var listener: TCPListener?
    private var peers: [PeerKey: Peer] = [:]
    private var inbound: [ObjectIdentifier: Inbound] = [:]
    private let inboundPool: ConnectionPool
    /// Forgets peers nobody has sent to for `peerIdleDeadline`.
    private let pruner: Timer

    var onMessage: ((Message) -> Void)?
    var onRefused: ((Endpoint) -> Void)?

    private(set) var bytesSent: UInt64 = 0
    private(set) var bytesReceived: UInt64 = 0
    private(set) var framesRejected: UInt64 = 0
    private(set) var framesDropped: UInt64 = 0
    /// Frames that failed cluster-key authentication: dropped, never decoded.
    private(set) var framesUnauthenticated: UInt64 = 0
    /// Inbound connections refused, evicted or expired by the connection limits.
    var inboundShed: UInt64 { inboundPool.refusedCount + inboundPool.evictedCount + inboundPool.expiredCount }
    /// Seals outgoing frames and checks incoming ones (empty: no authentication).
    var keyring = Keyring()

    /// Frames held while a connection is being opened; past this they are
    /// dropped, as a lossy network would (SWIM tolerates loss).
    static let pendingFramesMax = 64
    /// Bytes queued in libuv per connection before sends are dropped: a
    /// frozen peer must not make this daemon grow without bound.
    static let queuedBytesMax = 1 << 20
    /// A dial that has not completed by then is as good as refused: peers are one LAN/WAN hop away.
    static let connectTimeoutMs: UInt64 = 1000
    /// Redials after a failure back off from this...
    static let backoffMinMs: UInt64 = 100
    /// ...doubling up to this, so a dead peer costs one dial per 5 s, and a revived one waits at most that.
    static let backoffMaxMs: UInt64 = 5000
    /// Agent-lane frames held while its connection opens: a burst of one agent window.
    static let pendingAgentFramesMax = 4096
    /// Inbound connections at once: a 64-node lab holds 2 × 63 (two lanes per peer); 512 leaves room for
    /// reconnections and stays well inside the default 1024 file descriptors.
    static let inboundConnectionsMax = 512
    /// Inbound connections from one host: half the total, so one host can never take them all; on a
    /// loopback lab every peer shares 127.0.0.1 and a 64-node lab needs 126.
    static let inboundConnectionsPerAddressMax = 256
    /// A connection that starts a frame must complete a valid one within this: a real peer sends a
    /// frame at once (frames are at most 4 MiB, a second's work on any link we run on), a trickler does not.
    static let helloDeadline = Duration.seconds(5)
    /// A peer that spoke and then fell silent this long is closed (it redials when it has something to
    /// say). A member probes each other one about every N probe intervals: 64 WAN members, every 192 s;
    /// ten minutes keeps the reconnections of quiet lanes rare.
    static let inboundIdleDeadline = Duration.seconds(600)
    /// An outbound peer nobody has sent to this long is forgotten, with its connection: members are
    /// probed far more often, so only endpoints that left (or never existed) go.
    static let peerIdleDeadline = Duration.seconds(600)
    /// Outbound peers remembered at once; the least recently used goes first. Four lanes' worth of
    /// the largest member table we expect (a few thousand), so forged endpoints cannot grow it unbounded.
    static let peersMax = 8192
    /// How often idle peers are pruned.
    static let pruneIntervalMs: UInt64 = 10_000

    static let inboundLimits = ConnectionPool.Limits(
        connectionsMax: inboundConnectionsMax, connectionsPerAddressMax: inboundConnectionsPerAddressMax,
        helloDeadline: helloDeadline, silentMayWait: true, idleDeadline: inboundIdleDeadline, eviction: .oldestUnproven)

    /// Agent traffic travels on its own connection per peer, so a flood of
    /// agent messages never delays the probes that decide who is alive.
    enum Lane: Hashable {
        case membership, agents

        /// Frames held while a connection opens: membership is lossy by design
        /// (SWIM tolerates loss); agent traffic arrives in bursts of a window.
        var pendingFramesMax: Int { self == .membership ? GossipTransport.pendingFramesMax : GossipTransport.pendingAgentFramesMax }
    }

    private struct PeerKey: Hashable {
        var endpoint: Endpoint
        var lane: Lane
    }

    private final class Peer {
        var connection: TCPConnection?
        var connecting = false
        var pending: [[UInt8]] = []
        var backoffMs: UInt64 = 0
        var retryAtMs: UInt64 = 0
        /// When something was last sent (or queued) to this peer, for pruning.
        var lastUsedMs: UInt64 = 0
    }

    private final class Inbound {
        let connection: TCPConnection
        var endpoint: Endpoint?
        init(_ connection: TCPConnection) { self.connection = connection }
    }

    init(loop: EventLoop, logger: Logger) {
        self.loop = loop
        self.logger = logger
        inboundPool = ConnectionPool(loop: loop, limits: GossipTransport.inboundLimits)
        pruner = Timer(loop: loop)
        inboundPool.onShed = { [logger] connection, shed in
            logger.debug("inbound_shed", ["peer": .string(connection.peerAddress), "why": .string("\(shed)")])
        }
    }

    func listen(host: String, port: UInt16) throws(UVError) {
        listener = try TCPListener(loop: loop, host: host, port: port,
                                   framing: .lengthPrefixed(maxFrameBytes: WireCodec.maxFrameBytes),
                                   maxQueuedBytes: GossipTransport.queuedBytesMax) { [weak self] connection in
            self?.accept(connection)
        }
        pruner.start(afterMilliseconds: GossipTransport.pruneIntervalMs, repeatMilliseconds: GossipTransport.pruneIntervalMs) {
            [weak self] in self?.pruneIdlePeers()
        }
    }

    /// Encodes and sends; never blocks, may drop (counted) under back-pressure.
    func send(_ message: Message, to endpoint: Endpoint) {
        let payload = keyring.seal(WireCodec.encode(message))
        let key = PeerKey(endpoint: endpoint, lane: message.lane)
        let peer = peer(for: key)
        peer.lastUsedMs = loop.nowMilliseconds
        if let connection = peer.connection, connection.isOpen {
            if connection.send(payload) { bytesSent += UInt64(payload.count + 4) } else { framesDropped += 1 }
            return
        }
        guard peer.pending.count < key.lane.pendingFramesMax else { framesDropped += 1; return }
        if !peer.connecting && loop.nowMilliseconds < peer.retryAtMs { framesDropped += 1; return }
        peer.pending.append(payload)
        dial(key, peer)
    }

    /// Whether agent traffic to `endpoint` has room: below half its queue, so
    /// a sender is told to retry instead of its message being dropped later.
    func hasRoomForAgentTraffic(to endpoint: Endpoint) -> Bool {
        guard let peer = peers[PeerKey(endpoint: endpoint, lane: .agents)] else { return true }
        if let connection = peer.connection { return connection.queuedBytes < GossipTransport.queuedBytesMax / 2 }
        return peer.pending.count < Lane.agents.pendingFramesMax / 2
    }

    /// Number of frames and bytes not yet written, for a graceful exit.
    var isFlushed: Bool {
        peers.values.allSatisfy { !$0.connecting && ($0.connection?.queuedBytes ?? 0) == 0 }
    }

    private func peer(for key: PeerKey) -> Peer {
        if let peer = peers[key] { return peer }
        if peers.count >= GossipTransport.peersMax, let oldest = peers.min(by: { $0.value.lastUsedMs < $1.value.lastUsedMs }) {
            forget(oldest.key)
        }
        let peer = Peer()
        peer.lastUsedMs = loop.nowMilliseconds
        peers[key] = peer
        return peer
    }

    /// Drops peers unused for `peerIdleDeadline`, closing their connections: a forged or departed
    /// endpoint must not hold a connection and an entry for ever.
    private func pruneIdlePeers() {
        let now = loop.nowMilliseconds
        let idleMs = UInt64(GossipTransport.peerIdleDeadline.nanoseconds / 1_000_000)
        for (key, peer) in peers where !peer.connecting && now >= peer.lastUsedMs + idleMs {
            forget(key)
        }
    }

    private func forget(_ key: PeerKey) {
        guard let peer = peers.removeValue(forKey: key) else { return }
        framesDropped += UInt64(peer.pending.count)
        peer.connection?.close()
    }

    func close() {
        pruner.close()
        inboundPool.close()
        listener?.close()
        listener = nil
        for peer in peers.values { peer.connection?.close() }
        for entry in inbound.values { entry.connection.close() }
        peers = [:]
        inbound = [:]
    }

    private func dial(_ key: PeerKey, _ peer: Peer) {
        guard !peer.connecting, let address = parseHostPort(key.endpoint) else { return }
        peer.connecting = true
        TCPConnection.connect(loop: loop, host: address.host, port: address.port,
                              framing: .lengthPrefixed(maxFrameBytes: WireCodec.maxFrameBytes),
                              maxQueuedBytes: GossipTransport.queuedBytesMax,
                              timeoutMilliseconds: GossipTransport.connectTimeoutMs) { [weak self] result in
            self?.dialed(key, peer, result)
        }
    }

    private func dialed(_ key: PeerKey, _ peer: Peer, _ result: Result<TCPConnection, UVError>) {
        peer.connecting = false
        guard peers[key] === peer else {
            if case .success(let connection) = result { connection.close() }
            return
        }
        switch result {
        case .success(let connection):
            peer.connection = connection
            peer.backoffMs = 0
            connection.onFrame = { [weak self, unowned connection] frame in self?.received(frame, from: connection, entry: nil) }
            connection.onClose = { [weak self, weak peer] reason in
                guard let self, let peer, peer.connection === connection else { return }
                peer.connection = nil
                self.lost(key, peer, reason)
            }
            let pending = peer.pending
            peer.pending = []
            for payload in pending {
                if connection.send(payload) { bytesSent += UInt64(payload.count + 4) } else { framesDropped += 1 }
            }
        case .failure(let error):
            framesDropped += UInt64(peer.pending.count)
            peer.pending = []
            peer.backoffMs = min(GossipTransport.backoffMaxMs, max(GossipTransport.backoffMinMs, peer.backoffMs * 2))
            peer.retryAtMs = loop.nowMilliseconds + peer.backoffMs
            logger.debug("dial_failed", ["peer": .string(key.endpoint), "error": .string(error.name)])
            if error.isConnectionRefused { onRefused?(key.endpoint) }
        }
    }

    /// A connection to a peer ended: dial once at once to tell a dead
    /// process (refused) from a dropped connection.
    private func lost(_ key: PeerKey, _ peer: Peer, _ reason: CloseReason) {
        if case .local = reason { return }
        logger.debug("connection_lost", ["peer": .string(key.endpoint), "reason": .string("\(reason)")])
        peer.retryAtMs = 0
        dial(key, peer)
    }

    private func accept(_ connection: TCPConnection) {
        guard inboundPool.admit(connection) else { return }
        let entry = Inbound(connection)
        let key = ObjectIdentifier(connection)
        inbound[key] = entry
        connection.onFrame = { [weak self, unowned connection, weak entry] frame in
            self?.received(frame, from: connection, entry: entry)
        }
        connection.onClose = { [weak self] reason in
            self?.inboundPool.remove(connection)
            guard let self, let entry = self.inbound.removeValue(forKey: key) else { return }
            if case .framingViolation(let why) = reason {
                self.framesRejected += 1
                self.logger.warn("frame_rejected", ["peer": .string(connection.peerAddress), "error": .string(why)])
            }
            // An inbound close from a peer whose outbound link we do not hold: check it by dialing.
            if case .local = reason { return }
            if let endpoint = entry.endpoint {
                let key = PeerKey(endpoint: endpoint, lane: .membership)
                let peer = self.peer(for: key)
                if peer.connection == nil { self.lost(key, peer, reason) }
            }
        }
    }

    private func received(_ frame: [UInt8], from connection: TCPConnection, entry: Inbound?) {
        bytesReceived += UInt64(frame.count + 4)
        guard let payload = keyring.open(frame) else {
            framesUnauthenticated += 1
            logger.warn("frame_unauthenticated", ["peer": .string(connection.peerAddress)])
            connection.close()
            return
        }
        let message: Message
        do {
            message = try WireCodec.decode(payload)
        } catch {
            framesRejected += 1
            logger.warn("frame_rejected", ["peer": .string(connection.peerAddress), "error": .string(error.message)])
            connection.close()
            return
        }
        if entry != nil { inboundPool.noteValid(connection) }
        if let entry, entry.endpoint == nil { entry.endpoint = message.replyEndpoint }
        // The sender is evidently up: a reply to it must not wait out an old dial backoff.
        if let endpoint = message.replyEndpoint {
            for lane in [Lane.membership, .agents] {
                if let peer = peers[PeerKey(endpoint: endpoint, lane: lane)], peer.connection == nil { peer.retryAtMs = 0 }
            }
        }
        onMessage?(message)
    }
}

extension Message {
    /// Agent messages and checkpoints may come in floods; they go on their own lane.
    var lane: GossipTransport.Lane {
        switch self {
        case .agentMessage, .checkpoint, .checkpointAck: .agents
        default: .membership
        }
    }

    /// The sender's gossip endpoint, where the message names one.
    var replyEndpoint: Endpoint? {
        switch self {
        case .ping(_, _, let replyTo, _, _), .pingReq(_, _, let replyTo, _, _, _), .pushPull(_, let replyTo, _, _, _):
            replyTo
        case .agents(_, let replyTo, _, _), .agentDigest(_, let replyTo, _, _, _), .checkpoint(_, let replyTo, _, _, _, _, _, _):
            replyTo
        case .ack, .nack, .checkpointAck, .agentMessage, .relaunchRequest, .tombstones:
            nil
        }
    }
}
