import KithCore
import KithUV
import XCTest
@testable import KithNode

/// The per-message shortcuts of the delivery records and acknowledgements (the stream a burst is
/// on kept aside, compared rather than hashed) write and send exactly what the tables alone did,
/// however the streams interleave.
final class DeliveryCoalescingTests: XCTestCase {
    private typealias Stream = DeliveryRecorder.Stream

    func testInterleavedStreamsAreRecordedAsTheirRuns() throws {
        let loop = try EventLoop()
        var records: [String] = []
        let recorder = DeliveryRecorder(loop: loop, endpoint: { "127.0.0.1:1" }) { event, fields in
            let to = fields["to_generation"]?.intValue.map { " to \($0)" } ?? ""
            records.append("\(event) \(fields["from"]!.stringValue!) \(fields["first_seq"]!.intValue!)-\(fields["last_seq"]!.intValue!)\(to)")
        }
        let a = Stream(from: "a", generation: 1, to: "s", via: "127.0.0.1:1")
        let b = Stream(from: "b", generation: 1, to: "s", via: "127.0.0.1:1")
        for (stream, seq) in [(a, 1), (a, 2), (b, 1), (a, 3), (b, 2), (a, 4), (a, 6), (b, 3)] as [(Stream, UInt64)] {
            recorder.acknowledged(stream, seq: seq)
            recorder.delivered(stream, to: 2, seq: seq)
        }
        recorder.delivered(b, to: 3, seq: 4)
        XCTAssertEqual(records.sorted(), ["messages_acknowledged a 1-4", "messages_delivered a 1-4 to 2"], "a gap ends a run at once")
        recorder.flushDelivered()
        XCTAssertEqual(records.count, 5)
        XCTAssertEqual(Set(records.suffix(3)), ["messages_delivered a 6-6 to 2", "messages_delivered b 1-3 to 2", "messages_delivered b 4-4 to 3"])
        records = []
        recorder.close()
        XCTAssertEqual(records.sorted(), ["messages_acknowledged a 6-6", "messages_acknowledged b 1-3"])
        loop.closeAll()
        loop.run()
    }

    func testAcknowledgementsKeepTheNewestPlaceOfEachStream() throws {
        let loop = try EventLoop()
        var sent: [String] = []
        let acks = AckCoalescer(loop: loop) { message, endpoint in
            guard case .agentAck(let ack) = message else { return XCTFail("\(message)") }
            sent.append("\(ack.from)->\(ack.to)@\(endpoint) \(ack.seq)")
        }
        for (from, seq, endpoint) in [("a", 1, "e1"), ("a", 3, "e1"), ("b", 2, "e1"), ("a", 2, "e1"), ("a", 5, "e2"), ("b", 4, "e1")]
            as [(String, UInt64, String)] {
            acks.add(MessageAck(from: from, generation: 1, to: "s", seq: seq, outcome: .delivered), to: endpoint)
        }
        acks.flush()
        XCTAssertEqual(sent.sorted(), ["a->s@e1 3", "a->s@e2 5", "b->s@e1 4"])
        sent = []
        acks.flush()
        XCTAssertEqual(sent, [], "nothing twice")
        loop.closeAll()
        loop.run()
    }
}
