import KithCore
import KithUV

/// The agents' door into their daemon: a Unix socket speaking JSON lines.
///
/// An agent must first say `hello` with the token it was started with; from
/// then on it speaks only as itself. Malformed or oversized lines get an
/// error reply (or close only that connection), never disturbing others.
final class AgentGateway {
    /// One connected agent.
    final class Session {
        let connection: StreamConnection
        var agent: String?
        var generation: UInt64 = 0
        /// Only names in `AgentGateway.eventNames`: a session can never grow this past that fixed set.
        var subscriptions: Set<String> = [] {
            didSet { subscriptions.formIntersection(AgentGateway.eventNames) }
        }
        /// Resumes reading after a pause for back-pressure (`retryPauseMilliseconds`).
        var resumeTimer: Timer?
        init(_ connection: StreamConnection) { self.connection = connection }
    }

    private var listener: UnixListener?
    private var sessions: [ObjectIdentifier: Session] = [:]
    private var byAgent: [String: Session] = [:]
    private var messageHeads: [String: [UInt8]] = [:]
    static let messageHeadsMax = 1024
    private let logger: Logger
    private let loop: EventLoop

    /// A line carries at most one message or checkpoint (each capped well below this by the wire codec).
    static let maxLineBytes = 1 << 20
    /// An agent that stops reading may hold this much of our memory, no more.
    static let queuedBytesMax = 4 << 20
    /// Sessions at once: `AgentSpec`'s capacity bounds running agents far below this; the rest is room
    /// for reconnections, and a fork-storming agent meets this wall, not the file-descriptor limit.
    static let maxSessions = 1024
    /// An agent answered "retry" (a congested link, a full outbox) is not read for this long: the lines it
    /// already wrote would be refused too, each at the full cost of a message, and starve the link's drain.
    static let retryPauseMilliseconds: UInt64 = 5
    /// The events an agent may subscribe to (README, agent API): peer events for the agents it guards,
    /// member events for the cluster. A fixed set, so subscriptions cost a few bytes per session.
    static let eventNames: Set<String> = ["peer_lost", "peer_relaunched", "peer_stopped", "member_dead", "member_alive"]

    /// Checks a hello: returns the generation when `token` belongs to `agent`.
    var authenticate: ((String, String) -> UInt64?)?
    /// Handles one request of an authenticated session; returns the reply, or nil to answer later.
    var handle: ((Session, String, JSON) -> JSON?)?
    /// Handles a `send` of an authenticated session read in its plain form (`SendRequest`); answered later.
    var handleSend: ((Session, SendRequest) -> Void)?
    /// A session said hello (agent, generation).
    var onHello: ((Session) -> JSON)?
    private(set) var linesRejected: UInt64 = 0

    init(loop: EventLoop, path: String, logger: Logger) throws(UVError) {
        self.logger = logger
        self.loop = loop
        listener = try UnixListener(loop: loop, path: path, framing: .lines(maxLineBytes: AgentGateway.maxLineBytes),
                                    maxQueuedBytes: AgentGateway.queuedBytesMax, mode: 0o600) { [weak self] connection in
            self?.accept(connection)
        }
    }

    func session(of agent: String) -> Session? { byAgent[agent] }

    /// Pushes an event or message line to an agent, if it is connected here.
    @discardableResult
    func push(_ json: JSON, to agent: String) -> Bool {
        push(line: Array(json.serialized().utf8), to: agent)
    }

    /// Pushes a line that is already serialized (the hot path of routed messages).
    @discardableResult
    func push(line: [UInt8], to agent: String) -> Bool {
        guard let session = byAgent[agent] else { return false }
        return session.connection.send(line)
    }

    /// Pushes a routed message as its `message` event line, the payload (JSON text the sending
    /// daemon printed, without a newline) spliced in as is; the line's head is kept per sender.
    func pushMessage(from sender: String, payload: [UInt8], to agent: String) -> Bool {
        guard let session = byAgent[agent] else { return false }
        let head = messageHead(from: sender)
        var line: [UInt8] = []
        line.reserveCapacity(head.count + payload.count + 1)
        line.append(contentsOf: head)
        line.append(contentsOf: payload)
        line.append(UInt8(ascii: "}"))
        return session.connection.send(line)
    }

    /// `{"event":"message","from":SENDER,"payload":`, printed once per sender (at most `messageHeadsMax` kept).
    private func messageHead(from sender: String) -> [UInt8] {
        if let head = messageHeads[sender] { return head }
        if messageHeads.count >= AgentGateway.messageHeadsMax { messageHeads.removeAll(keepingCapacity: true) }
        let head = Array("{\"event\":\"message\",\"from\":\(JSON.string(sender).serialized()),\"payload\":".utf8)
        messageHeads[sender] = head
        return head
    }

    func reply(_ session: Session, id: JSON?, _ body: JSON) {
        if body == AgentGateway.ok {
            // The answer to every routed message: printed as `serialized()` would, without building it.
            var line: [UInt8] = []
            if let id {
                line.reserveCapacity(24)
                line.append(contentsOf: AgentGateway.idPrefix)
                line.append(contentsOf: id.serialized().utf8)
                line.append(contentsOf: AgentGateway.okSuffix)
            } else {
                line = AgentGateway.okLine
            }
            session.connection.send(line)
            return
        }
        var object = body.objectValue ?? [:]
        if object["ok"] == .bool(false), object["error"]?.stringValue?.hasSuffix("retry") == true { pauseForRetry(session) }
        if let id { object["id"] = id }
        session.connection.send(Array(JSON.object(object).serialized().utf8))
    }

    static let ok: JSON = ["ok": true]
    private static let idPrefix = Array(#"{"id":"#.utf8)
    private static let okSuffix = Array(#","ok":true}"#.utf8)
    private static let okLine = Array(#"{"ok":true}"#.utf8)

    /// Back-pressure on an agent told to retry: its socket is not read for `retryPauseMilliseconds`.
    private func pauseForRetry(_ session: Session) {
        guard !session.connection.isReadingPaused, session.connection.isOpen else { return }
        session.connection.pauseReading()
        let timer = session.resumeTimer ?? Timer(loop: loop)
        session.resumeTimer = timer
        timer.start(afterMilliseconds: AgentGateway.retryPauseMilliseconds) { [weak session] in session?.connection.resumeReading() }
    }

    /// Drops an agent's connection (it was stopped or superseded).
    func disconnect(_ agent: String) {
        byAgent[agent]?.connection.close()
    }

    func close() {
        listener?.close()
        listener = nil
        for session in sessions.values { session.connection.close() }
    }

    private func accept(_ connection: StreamConnection) {
        guard sessions.count < AgentGateway.maxSessions else { connection.close(); return }
        let session = Session(connection)
        let key = ObjectIdentifier(connection)
        sessions[key] = session
        connection.onFrame = { [weak self, weak session] line in
            guard let self, let session else { return }
            self.received(line, from: session)
        }
        connection.onClose = { [weak self] reason in
            guard let self, let session = self.sessions.removeValue(forKey: key) else { return }
            session.resumeTimer?.close()
            session.resumeTimer = nil
            if case .framingViolation(let why) = reason {
                self.linesRejected += 1
                self.logger.warn("agent_line_rejected", ["agent": session.agent.map(JSON.string) ?? .null, "error": .string(why)])
            }
            if let agent = session.agent, self.byAgent[agent] === session { self.byAgent[agent] = nil }
        }
    }

    private func received(_ line: [UInt8], from session: Session) {
        if session.agent != nil, let handleSend, let send = SendRequest(line: line) {
            handleSend(session, send)
            return
        }
        let request: JSON
        do { request = try JSON.parse(bytes: line) } catch {
            linesRejected += 1
            reply(session, id: nil, ["ok": false, "error": .string("malformed request: \(error)")])
            return
        }
        let id = request["id"]
        guard let op = request["op"]?.stringValue else {
            linesRejected += 1
            reply(session, id: id, ["ok": false, "error": "request must be a JSON object with a string \"op\""])
            return
        }
        if op == "hello" {
            hello(request, id: id, session: session)
            return
        }
        guard session.agent != nil else {
            reply(session, id: id, ["ok": false, "error": "say hello first"])
            return
        }
        if op == "subscribe", let problem = AgentGateway.subscriptionProblem(request["events"]) {
            linesRejected += 1
            reply(session, id: id, ["ok": false, "error": .string(problem)])
            return
        }
        if let answer = handle?(session, op, request) { reply(session, id: id, answer) }
    }

    /// Why `events` is not a list of known event names, or nil when it is.
    static func subscriptionProblem(_ events: JSON?) -> String? {
        guard let list = events?.arrayValue, list.count <= eventNames.count * 4 else {
            return "subscribe needs \"events\": [names], at most \(eventNames.count * 4) of them"
        }
        for item in list {
            guard let name = item.stringValue else { return "event names must be strings" }
            guard eventNames.contains(name) else {
                return "unknown event '\(name.cutShort(toUTF8Bytes: 64))'; known: \(eventNames.sorted().joined(separator: ", "))"
            }
        }
        return nil
    }

    private func hello(_ request: JSON, id: JSON?, session: Session) {
        guard let agent = request["agent"]?.stringValue, let token = request["token"]?.stringValue,
              let generation = authenticate?(agent, token) else {
            logger.record(.warn, "agent_hello_refused", ["claimed": request["agent"] ?? .null])
            reply(session, id: id, ["ok": false, "error": "hello refused: unknown agent or wrong token"])
            return
        }
        if let current = session.agent, current != agent {
            reply(session, id: id, ["ok": false, "error": .string("this connection already speaks as \(current)")])
            return
        }
        if let previous = byAgent[agent], previous !== session { previous.connection.close() }
        session.agent = agent
        session.generation = generation
        byAgent[agent] = session
        reply(session, id: id, onHello?(session) ?? ["ok": true])
    }
}
