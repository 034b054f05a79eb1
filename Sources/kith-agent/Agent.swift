import KithCore

/// The reference agent: counts, checkpoints the count, pings the peers it
/// protects, and applies its policy when the daemon says one of them is lost.
final class Agent {
    private let options: Options
    private let connection: AgentConnection
    private var counter: Int64 = 0
    /// Protected peers the daemon reported lost and not yet relaunched.
    private var lost: Set<String> = []
    /// Peers an operator stopped: not pinged until relaunched.
    private var stopped: Set<String> = []
    /// Peers that answered a ping (since they were last lost).
    private var reachable: Set<String> = []
    /// Kinds of request whose last attempt failed, so a repeated failure is logged once.
    private var failing: Set<String> = []

    init(options: Options, connection: AgentConnection) {
        self.options = options
        self.connection = connection
    }

    /// Says hello, restores the counter from the last checkpoint, and subscribes to peer events.
    func start() throws(AgentConnection.Failure) {
        let reply = try connection.call(
            ["op": "hello", "agent": .string(options.agent), "token": .string(options.token)],
            timeoutMilliseconds: 5000)
        guard reply["ok"]?.boolValue == true else {
            throw AgentConnection.Failure(description: "hello failed: \(reply["error"]?.stringValue ?? reply.serialized())")
        }
        let node = reply["node"]?.stringValue ?? options.node
        let generation = reply["generation"]?.intValue ?? options.generation ?? 0
        let resumed = reply["checkpoint"]?["counter"]?.intValue
        counter = resumed ?? 0
        let relaunched = reply["relaunched"]?.boolValue == true ? " (relaunched)" : ""
        writeStdout("agent \(options.agent) generation \(generation) on \(node) \(resumed == nil ? "started" : "resumed") at counter \(counter)\(relaunched)\n")
        let peers = options.protects.isEmpty ? "nobody" : options.protects.joined(separator: ",")
        log("policy \(options.policy.rawValue), protects \(peers), every \(options.intervalMilliseconds) ms")

        let events: [JSON] = ["peer_lost", "peer_relaunched", "peer_stopped"]
        try connection.request(["op": "subscribe", "events": .array(events)]) { [self] reply in
            if reply["ok"]?.boolValue != true { log("subscribe failed: \(Self.error(in: reply))") }
        }
    }

    /// Ticks every interval and handles events until the daemon closes the connection.
    func run() throws(AgentConnection.Failure) {
        let interval = Int64(options.intervalMilliseconds)
        var next = Clock.milliseconds + interval
        while true {
            let wait = max(0, next - Clock.milliseconds)
            switch try connection.receive(timeoutMilliseconds: Int32(clamping: wait)) {
            case .event(let event): try handle(event)
            case .idle: break
            case .closed: return
            }
            let now = Clock.milliseconds
            if now >= next {
                try tick()
                next += interval
                if next <= now { next = now + interval }  // fell behind: skip, don't burst
            }
        }
    }

    private func tick() throws(AgentConnection.Failure) {
        counter += 1
        let value = counter
        try connection.request(["op": "checkpoint", "data": ["counter": .int(value)]]) { [self] reply in
            outcome(of: "checkpoint", reply) { "checkpoint at counter \(value) failed: \($0)" }
        }
        for peer in options.protects where !lost.contains(peer) && !stopped.contains(peer) {
            try send(["ping": .int(value)], to: peer)
        }
        if options.policy.repeatsWhileDown, let status = options.policy.reportOnLost {
            for peer in lost.sorted() { try report(peer, status) }
        }
    }

    private func handle(_ event: JSON) throws(AgentConnection.Failure) {
        switch event["event"]?.stringValue {
        case "message":
            let sender = event["from"]?.stringValue ?? ""
            let payload = event["payload"] ?? .null
            if let ping = payload["ping"], !sender.isEmpty {
                try send(["pong": ping], to: sender)
            } else if payload["pong"] != Optional<JSON>.none, !sender.isEmpty, reachable.insert(sender).inserted {
                log("peer \(sender) is reachable")
            }
        case "peer_lost":
            guard let peer = event["peer"]?.stringValue else { return }
            lost.insert(peer)
            reachable.remove(peer)
            let reason = event["reason"]?.stringValue ?? "no reason given"
            log("peer \(peer) lost on \(event["node"]?.stringValue ?? "?") (\(reason)); policy \(options.policy.rawValue)")
            if options.policy.relaunches { try relaunch(peer) }
            if let status = options.policy.reportOnLost {
                log("reporting \(peer) \(status)\(options.policy.repeatsWhileDown ? " every interval while it is down" : "")")
                try report(peer, status)
            }
        case "peer_relaunched":
            guard let peer = event["peer"]?.stringValue else { return }
            lost.remove(peer)
            stopped.remove(peer)
            let generation = event["generation"]?.intValue.map { " as generation \($0)" } ?? ""
            log("peer \(peer) relaunched on \(event["node"]?.stringValue ?? "?")\(generation)")
            if let status = options.policy.reportOnRelaunched { try report(peer, status) }
        case "peer_stopped":
            guard let peer = event["peer"]?.stringValue else { return }
            lost.remove(peer)
            reachable.remove(peer)
            stopped.insert(peer)
            log("peer \(peer) was stopped")
        case "send_failed":
            // The daemon gave up on a message it had accepted: said once, by id and reason.
            let to = event["to"]?.stringValue ?? "?"
            log("message \(event["id"]?.serialized() ?? "?") to \(to) failed (\(event["reason"]?.stringValue ?? "?")): "
                + (event["error"]?.stringValue ?? ""))
        default:
            break
        }
    }

    private func send(_ payload: JSON, to peer: String) throws(AgentConnection.Failure) {
        try connection.request(["op": "send", "to": .string(peer), "payload": payload]) { [self] reply in
            outcome(of: "send to \(peer)", reply) { "send to \(peer) failed: \($0)" }
        }
    }

    private func relaunch(_ peer: String) throws(AgentConnection.Failure) {
        try connection.request(["op": "relaunch", "peer": .string(peer)]) { [self] reply in
            if reply["ok"]?.boolValue == true {
                log("relaunch \(peer): target \(reply["target"]?.stringValue ?? "?")")
            } else {
                log("relaunch \(peer) refused: \(Self.error(in: reply))")
            }
        }
    }

    private func report(_ peer: String, _ status: String) throws(AgentConnection.Failure) {
        try connection.request(["op": "report", "peer": .string(peer), "status": .string(status)]) { [self] reply in
            outcome(of: "report on \(peer)", reply) { "report on \(peer) failed: \($0)" }
        }
    }

    /// Logs the first failure of a kind of request, and its recovery, not every repeat.
    private func outcome(of kind: String, _ reply: JSON, failure: (String) -> String) {
        if reply["ok"]?.boolValue == true {
            if failing.remove(kind) != nil { log("\(kind) works again") }
        } else if failing.insert(kind).inserted {
            log(failure(Self.error(in: reply)))
        }
    }

    private static func error(in reply: JSON) -> String {
        reply["error"]?.stringValue ?? reply.serialized()
    }

    private func log(_ text: String) {
        writeStdout("agent \(options.agent): \(text)\n")
    }
}
