import XCTest
@testable import KithCore

// Shared fixtures for the Membership tests: node ids, a fake clock (plain
// Instant values), builders, and pattern-matching views over directives.
// Everything is namespaced under `MT` or typed `MT...` so it cannot collide
// with helpers in other test files of this target.

enum MT {
    // MARK: Time

    static func ms(_ n: Int) -> Instant { Instant(nanoseconds: UInt64(n) * 1_000_000) }
    static let oneNanosecond = Duration.nanoseconds(1)

    // MARK: Identities

    static func id(_ name: String, uid: UInt64 = 1) -> NodeID { NodeID(name: name, uid: uid) }
    static func endpoint(_ name: String) -> Endpoint { "\(name):7946" }
    static func meta(_ name: String) -> NodeMeta { NodeMeta(endpoint: endpoint(name), control: "\(name):7947").credentialed(as: name) }

    // MARK: Settings

    /// LAN defaults with the slow background timers (push-pull, reconnect,
    /// reap) pushed out of the way, so a test sees only the timers it is about.
    static var quiet: MembershipSettings {
        var s = MembershipSettings.lan
        s.pushPullInterval = .seconds(3600)
        s.reconnectInterval = .seconds(3600)
        s.joinSyncWindow = .zero
        return s
    }

    // MARK: Builders

    static func node(_ name: String = "a", uid: UInt64 = 1, seeds: [Endpoint] = [],
                     settings: MembershipSettings = MT.quiet, seed: UInt64 = 7,
                     now: Instant = .zero) -> Membership {
        Membership(me: id(name, uid: uid), meta: meta(name), seeds: seeds, settings: settings,
                   randomSeed: seed, now: now)
    }

    /// A node that has started and learned `others` (all alive, uid 1,
    /// incarnation 0) from a push-pull reply of the first of them.
    static func joined(_ name: String = "a", uid: UInt64 = 1, others: [String],
                       settings: MembershipSettings = MT.quiet, seed: UInt64 = 7,
                       now: Instant = .zero) -> Membership {
        var m = node(name, uid: uid, settings: settings, seed: seed, now: now)
        _ = m.start(now: now)
        if !others.isEmpty { _ = m.learn(others, now: now) }
        return m
    }

    static func aliveState(_ name: String, uid: UInt64 = 1, incarnation: UInt32 = 0) -> MemberState {
        MemberState(id: id(name, uid: uid), meta: meta(name), status: .alive, incarnation: incarnation)
    }

    /// A goodbye as the member `id` itself says it: signed with its simulated key.
    static func left(_ id: NodeID, incarnation: UInt32) -> Gossip {
        .left(id, incarnation: incarnation,
              signature: TagNodeVerifier(name: id.name).sign(NodeStatement.left(id)))
    }

    static func alive(_ name: String, uid: UInt64 = 1, _ incarnation: UInt32 = 0) -> Gossip {
        .alive(id(name, uid: uid), incarnation: incarnation, meta: meta(name))
    }
}

extension Membership {
    /// Learns `names` as alive members through a push-pull reply from the first.
    mutating func learn(_ names: [String], incarnation: UInt32 = 0, now: Instant) -> [MembershipDirective] {
        let states = names.map { MT.aliveState($0, incarnation: incarnation) }
        let sender = MT.id(names[0])
        return receive(.pushPull(from: sender, replyTo: MT.endpoint(names[0]), isReply: true, isJoin: false,
                                 states: states), now: now)
    }

    /// Delivers rumours on an ack that answers no probe (seq 0), as `leave` does.
    mutating func hear(_ rumours: [Gossip], from sender: String = "z", now: Instant) -> [MembershipDirective] {
        receive(.ack(seq: 0, from: MT.id(sender), gossip: rumours), now: now)
    }

    /// Ticks at every deadline up to and including `end`, as a shell would:
    /// a deadline earlier than `from` (already passed) fires at `from`.
    mutating func runTimers(from start: Instant = .zero, until end: Instant) -> [MembershipDirective] {
        runTimersTimed(from: start, until: end, answering: false).map(\.directive)
    }

    /// Like `runTimers`; when `answering`, every ping is acked at once by its
    /// target, as if the whole cluster were healthy. Returns what was
    /// emitted, with when.
    mutating func runTimersTimed(from start: Instant = .zero, until end: Instant,
                                 answering: Bool) -> [(at: Instant, directive: MembershipDirective)] {
        var out: [(at: Instant, directive: MembershipDirective)] = []
        var clock = start
        var guardCount = 0
        while let deadline = nextDeadline, max(deadline, clock) <= end {
            let next = max(deadline, clock)
            clock = next
            let directives = tick(now: next)
            out += directives.map { (next, $0) }
            if answering {
                for ping in directives.pings {
                    out += receive(.ack(seq: ping.seq, from: ping.target, gossip: []), now: next).map { (next, $0) }
                }
            }
            guardCount += 1
            precondition(guardCount < 100_000, "timers do not advance")
        }
        return out
    }

    func status(of name: String) -> MemberStatus? { member(named: name)?.status }
}

// MARK: Views over directives

struct MTPing: Equatable {
    var seq: UInt32, from: NodeID, replyTo: Endpoint, target: NodeID, gossip: [Gossip], to: Endpoint
}

struct MTPingReq: Equatable {
    var seq: UInt32, from: NodeID, replyTo: Endpoint, target: NodeID, targetEndpoint: Endpoint, gossip: [Gossip]
    var to: Endpoint
}

struct MTAck: Equatable {
    var seq: UInt32, from: NodeID, gossip: [Gossip], to: Endpoint
}

struct MTNack: Equatable {
    var seq: UInt32, from: NodeID, to: Endpoint
}

struct MTPushPull: Equatable {
    var from: NodeID, replyTo: Endpoint, isReply: Bool, isJoin: Bool, states: [MemberState], to: Endpoint
}

struct MTChange: Equatable {
    var member: Member, previous: MemberStatus?
}

extension Array where Element == MembershipDirective {
    var sends: [(message: Message, to: Endpoint)] {
        compactMap { if case let .send(message, to) = $0 { (message, to) } else { nil } }
    }

    var pings: [MTPing] {
        sends.compactMap { s in
            guard case let .ping(seq, from, replyTo, target, gossip) = s.message else { return nil }
            return MTPing(seq: seq, from: from, replyTo: replyTo, target: target, gossip: gossip, to: s.to)
        }
    }

    var pingReqs: [MTPingReq] {
        sends.compactMap { s in
            guard case let .pingReq(seq, from, replyTo, target, targetEndpoint, gossip) = s.message else { return nil }
            return MTPingReq(seq: seq, from: from, replyTo: replyTo, target: target, targetEndpoint: targetEndpoint,
                             gossip: gossip, to: s.to)
        }
    }

    var acks: [MTAck] {
        sends.compactMap { s in
            guard case let .ack(seq, from, gossip) = s.message else { return nil }
            return MTAck(seq: seq, from: from, gossip: gossip, to: s.to)
        }
    }

    var nacks: [MTNack] {
        sends.compactMap { s in
            guard case let .nack(seq, from) = s.message else { return nil }
            return MTNack(seq: seq, from: from, to: s.to)
        }
    }

    var pushPulls: [MTPushPull] {
        sends.compactMap { s in
            guard case let .pushPull(from, replyTo, isReply, isJoin, states) = s.message else { return nil }
            return MTPushPull(from: from, replyTo: replyTo, isReply: isReply, isJoin: isJoin, states: states, to: s.to)
        }
    }

    var changes: [MTChange] {
        compactMap { if case let .memberChanged(member, previous) = $0 { MTChange(member: member, previous: previous) } else { nil } }
    }

    func changes(of name: String) -> [MTChange] { changes.filter { $0.member.id.name == name } }

    var refutations: [UInt32] {
        compactMap { if case let .refuted(incarnation) = $0 { incarnation } else { nil } }
    }
}

extension NodeMeta {
    /// This meta with the simulated key and certificate of node `name` (`TagNodeVerifier`).
    func credentialed(as name: String) -> NodeMeta {
        var meta = self
        (meta.key, meta.certificate) = TagNodeVerifier(name: name).credential
        return meta
    }
}
