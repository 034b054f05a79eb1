import KithCore
import KithCrypto
import KithUV

/// Carries membership messages between daemons over TCP.
///
/// One outbound connection per peer endpoint, opened on first use and
/// reopened with capped exponential backoff; inbound connections are only
/// read (but for a hello). A frame that fails to decode closes its
/// connection and is counted: garbage never reaches the core. When a connection to a peer ends, the
/// transport dials it once at once: a refusal means no process listens
/// there any more, which the core takes as hard evidence (`onRefused`).
///
/// With cluster keys every connection starts with a hello from each end and
/// its frames are sealed in a `FrameSession`, so no frame is accepted twice
/// or on another connection; frames wait for the acceptor's hello. Refusals
/// are counted and recorded, a few per interval (`RefusalRecorder`). What
/// is sent to one peer within a lane's batch window leaves as one frame
/// (`FrameBatch`), so bursts pay the per-frame header and MAC once. A frame
/// that authenticates but is of a version or type this node does not speak
/// (a newer peer) is skipped and counted: the connection stays up.
final class GossipTransport {
    private let loop: EventLoop
    private let logger: Logger
    private var listener: TCPListener?
    private var peers: [PeerKey: Peer] = [:]
    private var inbound: [ObjectIdentifier: Inbound] = [:]
    private let inboundPool: ConnectionPool
    /// Forgets peers nobody has sent to for `peerIdleDeadline`.
    private let pruner: Timer
    /// Write, a lane's `batchWindowMs` after a send, what was queued for each peer meanwhile, in batches.
    private let flushers: [Lane: Timer]
    private var unflushed: [Lane: [Peer]] = [:]

    var onMessage: ((Message) -> Void)?
    var onRefused: ((Endpoint) -> Void)?

    private(set) var bytesSent: UInt64 = 0
    private(set) var bytesReceived: UInt64 = 0
    private(set) var framesRejected: UInt64 = 0
    private(set) var framesDropped: UInt64 = 0
    /// Frames that failed cluster-key authentication: dropped, never decoded.
    private(set) var framesUnauthenticated: UInt64 = 0
    /// Authentic frames seen before, or sealed for another connection: dropped, never decoded.
    private(set) var framesReplayed: UInt64 = 0
    /// Frames of a version or type this node does not speak: skipped, the connection kept.
    private(set) var framesUnknown: UInt64 = 0
    /// Records refusals, a few per kind and interval.
    let refusals: RefusalRecorder
    /// Inbound connections refused, evicted or expired by the connection limits.
    var inboundShed: UInt64 { inboundPool.refusedCount + inboundPool.evictedCount + inboundPool.expiredCount }
    /// Seals outgoing frames and checks incoming ones (empty: no authentication). Connections
    /// opened under the other mode are closed when it changes, so each is sealed throughout or not at all.
    var keyring = Keyring() {
        didSet { if oldValue.isEmpty != keyring.isEmpty { closeConnections() } }
    }

    /// Frames held while a connection is being opened; past this they are
    /// dropped, as a lossy network would (SWIM tolerates loss).
    static let pendingFramesMax = 64
    /// Bytes queued in libuv per connection before sends are dropped: a
    /// frozen peer must not make this daemon grow without bound.
    static let queuedBytesMax = 1 << 20
    /// A dial that has not completed by then is as good as refused: peers are one LAN/WAN hop away.
    static let connectTimeoutMs: UInt64 = 1000
    /// A connection whose acceptor sent no hello by then is given up like a failed dial (a peer
    /// without cluster keys never sends one).
    static let handshakeTimeoutMs: UInt64 = 1000
    /// Redials after a failure back off from this...
    static let backoffMinMs: UInt64 = 100
    /// ...doubling up to this, so a dead peer costs one dial per 5 s, and a revived one waits at most that.
    static let backoffMaxMs: UInt64 = 5000
    /// Agent-lane frames held while its connection opens: a burst of one agent window.
    static let pendingAgentFramesMax = 4096
    /// Bytes queued in libuv per agent-lane connection. libuv reports a write done only on the
    /// next loop turn, so a window of agent messages forwarded in one turn (10,000 of 64 bytes:
    /// about 1.3 MB of frames) counts as queued until then, though the kernel took it at once;
    /// half of this is where a link counts as congested (`hasRoomForAgentTraffic`).
    static let agentQueuedBytesMax = 4 << 20
    /// See `Lane.batchWindowMs`.
    static let agentBatchWindowMs: UInt64 = 5
    /// Inbound connections at once: a 256-node lab holds 2 × 255 (two lanes per peer); 1024 leaves room for
    /// reconnections (kithd raises its open-files limit at start, and kithctl the labs', see `LabCapacity`).
    static let inboundConnectionsMax = 1024
    /// Inbound connections from one host: half the total, so one host can never take them all; on a
    /// loopback lab every peer shares 127.0.0.1 and a 256-node lab needs 510 (`LabCapacity` in KithLab).
    static let inboundConnectionsPerAddressMax = 512
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

        /// How long a send waits for others to the same peer to share its frame. Probes leave at
        /// the end of the loop turn that made them; agent traffic waits a little longer, which
        /// batches an agent's checkpoint with its pings and the replies to a peer's burst.
        var batchWindowMs: UInt64 { self == .membership ? 0 : GossipTransport.agentBatchWindowMs }

        /// See `queuedBytesMax` and `agentQueuedBytesMax`.
        var queuedBytesMax: Int { self == .membership ? GossipTransport.queuedBytesMax : GossipTransport.agentQueuedBytesMax }
    }

    private struct PeerKey: Hashable {
        var endpoint: Endpoint
        var lane: Lane
    }

    /// What both kinds of connection hold: the session that seals and opens its frames (nil without keys).
    private class Link {
        var session: FrameSession?
    }

    private final class Peer: Link {
        var connection: TCPConnection?
        var connecting = false
        /// Encoded payloads waiting for the connection, its hello or the end of this loop turn;
        /// batched and sealed as they are written.
        var pending: [[UInt8]] = []
        /// What `pending` adds to batches, so a burst is written once it fills one.
        var pendingBytes = 0
        var awaitingFlush = false
        var connectedAtMs: UInt64 = 0
        var backoffMs: UInt64 = 0
        var retryAtMs: UInt64 = 0
        /// When something was last sent (or queued) to this peer, for pruning.
        var lastUsedMs: UInt64 = 0

        func queue(_ payload: [UInt8]) {
            pending.append(payload)
            pendingBytes += FrameBatch.cost(of: payload)
        }
    }

    private final class Inbound: Link {
        let connection: TCPConnection
        var endpoint: Endpoint?
        init(_ connection: TCPConnection) { self.connection = connection }
    }

    init(loop: EventLoop, logger: Logger) {
        self.loop = loop
        self.logger = logger
        inboundPool = ConnectionPool(loop: loop, limits: GossipTransport.inboundLimits)
        pruner = Timer(loop: loop)
        flushers = [.membership: Timer(loop: loop), .agents: Timer(loop: loop)]
        refusals = RefusalRecorder(loop: loop, logger: logger)
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
        let payload = WireCodec.encode(message)
        let key = PeerKey(endpoint: endpoint, lane: message.lane)
        let peer = peer(for: key)
        peer.lastUsedMs = loop.nowMilliseconds
        if let connection = peer.connection, connection.isOpen {
            if peer.session?.isEstablished == false {
                guard loop.nowMilliseconds < peer.connectedAtMs + GossipTransport.handshakeTimeoutMs else {
                    return abandonHandshake(key, peer, connection)
                }
                if peer.pending.count < key.lane.pendingFramesMax { peer.queue(payload) } else { framesDropped += 1 }
                return
            }
            peer.queue(payload)
            if peer.pendingBytes >= FrameBatch.bytesMax || peer.pending.count >= key.lane.pendingFramesMax {
                flushPending(peer, on: connection)
            } else {
                scheduleFlush(peer, key.lane)
            }
            return
        }
        guard peer.pending.count < key.lane.pendingFramesMax else { framesDropped += 1; return }
        if !peer.connecting && loop.nowMilliseconds < peer.retryAtMs { framesDropped += 1; return }
        peer.queue(payload)
        dial(key, peer)
    }

    /// Whether agent traffic to `endpoint` has room: below half its queue, so
    /// a sender is told to retry instead of its message being dropped later.
    func hasRoomForAgentTraffic(to endpoint: Endpoint) -> Bool {
        guard let peer = peers[PeerKey(endpoint: endpoint, lane: .agents)] else { return true }
        if let connection = peer.connection, peer.session?.isEstablished != false {
            return connection.queuedBytes < Lane.agents.queuedBytesMax / 2
        }
        return peer.pending.count < Lane.agents.pendingFramesMax / 2
    }

    /// Number of frames and bytes not yet written, for a graceful exit.
    var isFlushed: Bool {
        peers.values.allSatisfy { !$0.connecting && $0.pending.isEmpty && ($0.connection?.queuedBytes ?? 0) == 0 }
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
        for flusher in flushers.values { flusher.close() }
        refusals.close()
        inboundPool.close()
        listener?.close()
        listener = nil
        for peer in peers.values { peer.connection?.close() }
        for entry in inbound.values { entry.connection.close() }
        peers = [:]
        inbound = [:]
    }

    /// Closes every connection (the keyring changed mode); peers redial when they next have something to send.
    private func closeConnections() {
        for peer in peers.values {
            peer.connection?.close()
            peer.connection = nil
            peer.session = nil
        }
        for entry in inbound.values { entry.connection.close() }
        inbound = [:]
    }

    private func scheduleFlush(_ peer: Peer, _ lane: Lane) {
        guard !peer.awaitingFlush else { return }
        peer.awaitingFlush = true
        unflushed[lane, default: []].append(peer)
        guard unflushed[lane]?.count == 1 else { return }
        flushers[lane]?.start(afterMilliseconds: lane.batchWindowMs) { [weak self] in self?.flushUnflushed(lane) }
    }

    private func flushUnflushed(_ lane: Lane) {
        let due = unflushed[lane] ?? []
        unflushed[lane] = nil
        for peer in due {
            peer.awaitingFlush = false
            if let connection = peer.connection, connection.isOpen, peer.session?.isEstablished != false {
                flushPending(peer, on: connection)
            }
        }
    }

    /// Writes what waits for `peer`, in batches of at most `FrameBatch.bytesMax`.
    private func flushPending(_ peer: Peer, on connection: TCPConnection) {
        let pending = peer.pending
        peer.pending = []
        peer.pendingBytes = 0
        var batch: [[UInt8]] = []
        var batchBytes = 0
        for payload in pending {
            let cost = FrameBatch.cost(of: payload)
            if !batch.isEmpty, batchBytes + cost > FrameBatch.bytesMax {
                write(batch, to: peer, on: connection)
                batch = []
                batchBytes = 0
            }
            batch.append(payload)
            batchBytes += cost
        }
        if !batch.isEmpty { write(batch, to: peer, on: connection) }
    }

    /// Seals (with keys) and writes one batch on an established connection.
    private func write(_ batch: [[UInt8]], to peer: Peer, on connection: TCPConnection) {
        guard peer.connection === connection else { framesDropped += UInt64(batch.count); return }
        guard let frame = keyring.seal(FrameBatch.encode(batch), in: &peer.session) else {
            // The session's counter reached its top (or no session under keys): a new connection takes over.
            framesDropped += UInt64(batch.count)
            peer.connection = nil
            peer.session = nil
            connection.close()
            return
        }
        if connection.send(frame) { bytesSent += UInt64(frame.count + 4) } else { framesDropped += UInt64(batch.count) }
    }

    /// The acceptor never said hello: treat the connection as a failed dial, so frames stop piling up.
    private func abandonHandshake(_ key: PeerKey, _ peer: Peer, _ connection: TCPConnection) {
        logger.debug("handshake_timeout", ["peer": .string(key.endpoint)])
        peer.connection = nil
        peer.session = nil
        connection.close()
        failed(peer)
    }

    private func failed(_ peer: Peer) {
        framesDropped += UInt64(peer.pending.count)
        peer.pending = []
        peer.pendingBytes = 0
        peer.backoffMs = min(GossipTransport.backoffMaxMs, max(GossipTransport.backoffMinMs, peer.backoffMs * 2))
        peer.retryAtMs = loop.nowMilliseconds + peer.backoffMs
    }

    private func dial(_ key: PeerKey, _ peer: Peer) {
        guard !peer.connecting, let address = parseHostPort(key.endpoint) else { return }
        peer.connecting = true
        TCPConnection.connect(loop: loop, host: address.host, port: address.port,
                              framing: .lengthPrefixed(maxFrameBytes: WireCodec.maxFrameBytes),
                              maxQueuedBytes: key.lane.queuedBytesMax,
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
            peer.connectedAtMs = loop.nowMilliseconds
            peer.backoffMs = 0
            connection.onFrame = { [weak self, unowned connection, weak peer] frame in
                guard let self, let peer, peer.connection === connection else { return }
                self.received(frame, from: connection, link: peer, entry: nil)
            }
            connection.onClose = { [weak self, weak peer] reason in
                guard let self, let peer, peer.connection === connection else { return }
                peer.connection = nil
                peer.session = nil
                self.lost(key, peer, reason)
            }
            if keyring.isEmpty {
                peer.session = nil
                flushPending(peer, on: connection)
            } else {
                let session = FrameSession(role: .dialer, nonce: FrameSession.freshNonce())
                peer.session = session
                if let hello = session?.hello, connection.send(hello) { bytesSent += UInt64(hello.count + 4) }
            }
        case .failure(let error):
            failed(peer)
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
        if !keyring.isEmpty, let session = FrameSession(role: .acceptor, nonce: FrameSession.freshNonce()) {
            entry.session = session
            if connection.send(session.hello) { bytesSent += UInt64(session.hello.count + 4) }
        }
        connection.onFrame = { [weak self, unowned connection, weak entry] frame in
            guard let self, let entry else { return }
            self.received(frame, from: connection, link: entry, entry: entry)
        }
        connection.onClose = { [weak self] reason in
            self?.inboundPool.remove(connection)
            guard let self, let entry = self.inbound.removeValue(forKey: key) else { return }
            if case .framingViolation(let why) = reason {
                self.framesRejected += 1
                self.refusals.record(.warn, "frame_rejected", ["peer": .string(connection.peerAddress), "error": .string(why)])
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

    private func received(_ frame: [UInt8], from connection: TCPConnection, link: Link, entry: Inbound?) {
        bytesReceived += UInt64(frame.count + 4)
        guard let opened = open(frame, from: connection, link: link) else { return }
        guard let payloads = FrameBatch.split(opened) else {
            framesRejected += 1
            refusals.record(.warn, "frame_rejected", ["peer": .string(connection.peerAddress), "error": "malformed batch"])
            connection.close()
            return
        }
        for payload in payloads {
            guard deliver(payload, from: connection, entry: entry) else { return }
        }
    }

    /// Decodes one payload and hands it on; false when it was malformed and the connection is closed.
    private func deliver(_ payload: ArraySlice<UInt8>, from connection: TCPConnection, entry: Inbound?) -> Bool {
        guard WireCodec.speaks(payload) else {
            framesUnknown += 1
            let header = payload.prefix(2).map { String($0) }.joined(separator: ",")
            refusals.record(.warn, "frame_unknown", ["peer": .string(connection.peerAddress), "version_type": .string(header)])
            return true
        }
        let message: Message
        do {
            message = try WireCodec.decode(payload)
        } catch {
            framesRejected += 1
            refusals.record(.warn, "frame_rejected", ["peer": .string(connection.peerAddress), "error": .string(error.message)])
            connection.close()
            return false
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
        return true
    }

    /// The payload of a frame that authenticates and is fresh, or nil (counted, recorded, the
    /// connection closed). A hello establishes the session and, on a dialed connection, lets the
    /// frames that waited for it go.
    private func open(_ frame: [UInt8], from connection: TCPConnection, link: Link) -> ArraySlice<UInt8>? {
        guard link.session != nil else {
            guard keyring.isEmpty else { return refuse(.unauthenticated("no session"), from: connection) }
            return frame[...]
        }
        let keyring = self.keyring
        switch link.session!.open(frame, key: keyring.key) {
        case .success(.hello):
            if let peer = link as? Peer { flushPending(peer, on: connection) }
            return nil
        case .success(.payload(let payload)):
            return payload
        case .failure(let refusal):
            return refuse(refusal, from: connection)
        }
    }

    private func refuse(_ refusal: FrameSession.Refusal, from connection: TCPConnection) -> ArraySlice<UInt8>? {
        switch refusal {
        case .unauthenticated(let why):
            framesUnauthenticated += 1
            refusals.record(.warn, "frame_unauthenticated", ["peer": .string(connection.peerAddress), "reason": .string(why)])
        case .replayed(let why):
            framesReplayed += 1
            refusals.record(.warn, "frame_replayed", ["peer": .string(connection.peerAddress), "reason": .string(why)])
        }
        connection.close()
        return nil
    }
}

extension Message {
    /// Agent messages and checkpoints may come in floods; they go on their own lane.
    var lane: GossipTransport.Lane {
        switch self {
        case .agentMessage, .agentAck, .checkpoint, .checkpointAck, .checkpointOffer: .agents
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
        case .ack, .nack, .checkpointAck, .checkpointFetch, .checkpointOffer, .agentMessage, .agentAck, .relaunchRequest, .tombstones:
            nil
        }
    }
}
