import XCTest
@testable import KithCore

/// Anti-entropy by digest: one round trip settles both sides, equal registries
/// swap only stamps, and a digest grants nothing.
final class AgentAntiEntropyTests: XCTestCase {
    /// n1 and n2 under test; n3 only hosts the agents (so neither runs or moves them) and hears nothing.
    private let members = AT.view(["n1", "n2", "n3"])

    private func registry(_ me: String) -> AgentRegistry { AT.registry(me, members: members) }

    private func record(_ name: String, generation: UInt64 = 1, version: UInt64 = 0) -> AgentRecord {
        AT.record(name, generation: generation, version: version, host: "n3", updatedBy: "n3")
    }

    /// One frame as it went over the wire.
    private struct Sent {
        var from: String
        var message: Message
        var bytes: Int
    }

    /// Delivers `first` from `origin` and every message it causes between the
    /// `registries`, each through the codec; messages to others are dropped.
    private func exchange(_ first: Message, from origin: String, to target: String,
                          _ registries: inout [String: AgentRegistry]) throws -> [Sent] {
        var queue = [(from: origin, to: target, message: first)]
        var sent: [Sent] = []
        while !queue.isEmpty, sent.count < 100 {
            let (from, to, message) = queue.removeFirst()
            let frame = WireCodec.encode(message)
            sent.append(Sent(from: from, message: message, bytes: frame.count))
            guard registries[to] != nil else { continue }
            for case let .send(reply, endpoint) in registries[to]!.receive(try WireCodec.decode(frame), now: AT.ms(10)) {
                queue.append((from: to, to: String(endpoint.prefix { $0 != ":" }), message: reply))
            }
        }
        XCTAssertLessThan(sent.count, 100, "the exchange must end")
        return sent
    }

    private func kinds(_ sent: [Sent]) -> [String] {
        sent.map { frame in
            switch frame.message {
            case let .agentDigest(_, _, isReply, _, _): "\(frame.from) digest\(isReply ? " reply" : "")"
            case let .agents(_, _, _, records): "\(frame.from) agents \(records.map(\.name).joined(separator: ","))"
            case let .tombstones(_, tombstones): "\(frame.from) tombstones \(tombstones.map(\.agent).joined(separator: ","))"
            default: "\(frame.from) \(frame.message)"
            }
        }
    }

    func test_registriesThatDifferInEachDirection_shouldConvergeAfterOneDigestExchange() throws {
        var n1 = registry("n1"), n2 = registry("n2")
        for r in [record("a", generation: 2), record("c")] { n1.records[r.name] = r }
        for r in [record("a"), record("b"), record("c", version: 5)] { n2.records[r.name] = r }
        n1.tombstones["x"] = AT.tombstone("x", epoch: 2, active: true)
        n2.tombstones["x"] = AT.tombstone("x", epoch: 1, active: true)
        n2.tombstones["y"] = AT.tombstone("y", epoch: 1, active: true)
        var registries = ["n1": n1, "n2": n2]

        let sent = try exchange(n1.digestMessage(isReply: false), from: "n1", to: "n2", &registries)

        XCTAssertEqual(kinds(sent), ["n1 digest", "n2 agents b,c", "n2 tombstones y", "n2 digest reply",
                                     "n1 agents a", "n1 tombstones x"], "one round trip, then each side pushes once")
        let (r1, r2) = (registries["n1"]!, registries["n2"]!)
        XCTAssertEqual(r1.records, r2.records)
        XCTAssertEqual(r1.tombstones, r2.tombstones)
        XCTAssertEqual(r1.records["a"]?.generation, 2)
        XCTAssertEqual(r1.records["c"]?.version, 5)
        XCTAssertNotNil(r1.records["b"])
        XCTAssertEqual(r2.tombstones["x"]?.epoch, 2)
        XCTAssertNotNil(r1.tombstones["y"])
        XCTAssertEqual(r1.forgedRefused + r2.forgedRefused, 0)
    }

    func test_equalRegistries_shouldExchangeOnlyOneDigestOfFewBytesPerRecord() throws {
        var n1 = registry("n1")
        let records = (0..<20).map { record("agent-\($0)", version: UInt64($0)) }
        for r in records { n1.records[r.name] = r }
        n1.tombstones["gone"] = AT.tombstone("gone", epoch: 3, active: true)
        var registries = ["n1": n1, "n2": n1]
        registries["n2"] = {
            var n2 = registry("n2")
            n2.records = n1.records
            n2.tombstones = n1.tombstones
            return n2
        }()

        let sent = try exchange(n1.digestMessage(isReply: false), from: "n1", to: "n2", &registries)

        XCTAssertEqual(kinds(sent), ["n1 digest"], "nothing differs: no records, no reply")
        XCTAssertLessThan(sent[0].bytes, 40 * records.count)
        let full = WireCodec.encode(.agents(from: AT.id("n1"), replyTo: AT.endpoint("n1"), wantsReply: true, records: records))
        XCTAssertLessThan(sent[0].bytes * 4, full.count, "stamps are far smaller than records with their proofs")
    }

    func test_theSyncTimer_shouldSendADigestAndNoRecordsOrTombstones() {
        var n1 = AT.registry("n1", members: AT.view(["n1", "n2"]))
        n1.records["a"] = AT.record("a", host: "n2", updatedBy: "n2")
        n1.tombstones["z"] = AT.tombstone("z", epoch: 1, active: true)
        let directives = n1.tick(now: AT.ms(2_000))
        let sends = directives.compactMap { directive -> Message? in
            if case let .send(message, _) = directive { message } else { nil }
        }
        XCTAssertEqual(sends, [.agentDigest(from: AT.id("n1"), replyTo: AT.endpoint("n1"), isReply: false,
                                            records: [n1.records["a"]!.digest], tombstones: [n1.tombstones["z"]!.digest])])
    }

    func test_aForgedDigest_shouldMakeNoNodeAdoptAnything_andRecordsStillNeedTheirProofs() throws {
        var n2 = registry("n2")
        let held = record("a")
        n2.records["a"] = held
        // Mallory claims a newer generation of `a`, a killed `b` and a kill-switch on `a`.
        let forged = Message.agentDigest(
            from: AT.id("mallory"), replyTo: AT.endpoint("mallory"), isReply: false,
            records: [RecordDigest(name: "a", generation: 99, version: 0, state: .killed, host: "zz", updatedBy: "zz"),
                      RecordDigest(name: "b", generation: 1, version: 0, state: .running, host: "n2", updatedBy: "zz")],
            tombstones: [TombstoneDigest(agent: "a", epoch: 9, kind: .killSwitch)])

        let directives = n2.receive(try WireCodec.decode(WireCodec.encode(forged)), now: AT.ms(10))

        XCTAssertEqual(n2.records, ["a": held])
        XCTAssertTrue(n2.tombstones.isEmpty)
        XCTAssertEqual(directives, [.send(n2.digestMessage(isReply: true), to: AT.endpoint("mallory"))],
                       "the digest only makes n2 say what it holds")

        // Mallory pushes what it claimed: without valid proofs none of it is adopted.
        var unsigned = record("a", generation: 99)
        unsigned.authorization = nil
        var wrongSpec = record("a", generation: 99)
        wrongSpec.authorization = TagAuthorizer().mint(.start(AT.spec("other")))
        _ = n2.receive(.agents(from: AT.id("mallory"), replyTo: AT.endpoint("mallory"), wantsReply: false,
                               records: [unsigned]), now: AT.ms(11))
        _ = n2.receive(.agents(from: AT.id("mallory"), replyTo: AT.endpoint("mallory"), wantsReply: false,
                               records: [wrongSpec]), now: AT.ms(12))
        _ = n2.receive(.tombstones(from: AT.id("mallory"), tombstones: [Tombstone(agent: "a", epoch: 9, active: true,
                                                                                   reason: "", issuedBy: "zz")]), now: AT.ms(13))
        XCTAssertEqual(n2.records, ["a": held])
        XCTAssertTrue(n2.tombstones.isEmpty)
        XCTAssertEqual(n2.forgedRefused, 3)
    }

    func test_aDigestFromThisNodeItself_shouldBeIgnored() {
        var n1 = registry("n1")
        n1.records["a"] = record("a")
        let own = Message.agentDigest(from: AT.id("n1"), replyTo: AT.endpoint("n1"), isReply: false, records: [], tombstones: [])
        XCTAssertEqual(n1.receive(own, now: AT.ms(10)), [])
    }
}
