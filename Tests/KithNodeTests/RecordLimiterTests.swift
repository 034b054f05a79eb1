import XCTest
@testable import KithNode

/// Refusal records: a few per kind and interval, then one summary with the count held back.
final class RecordLimiterTests: XCTestCase {
    func testAFloodIsRecordedAFewTimesThenSummarizedOnce() {
        var limiter = RecordLimiter(perInterval: 3, intervalMs: 1000)
        let admitted = (0..<100).map { i in limiter.admit("frame_replayed", nowMs: 10_000 + UInt64(i)) }
        XCTAssertEqual(admitted.filter { $0 }.count, 3)
        XCTAssertEqual(Array(admitted.prefix(3)), [true, true, true])
        XCTAssertTrue(limiter.admit("forged_refused", nowMs: 10_050), "each kind has its own window")
        XCTAssertEqual(limiter.nextFlushMs, 11_000)
        XCTAssertEqual(limiter.flush(nowMs: 10_999), [], "the window is still open")
        XCTAssertEqual(limiter.flush(nowMs: 11_000), [.init(kind: "frame_replayed", suppressed: 97, intervalMs: 1000)])
        XCTAssertEqual(limiter.flush(nowMs: 11_000), [], "reported once")
        XCTAssertNil(limiter.nextFlushMs)
        XCTAssertTrue(limiter.admit("frame_replayed", nowMs: 11_001), "a new window records again")
    }

    func testAWindowWithoutSuppressionEndsSilentlyAndAClockStepBackEndsIt() {
        var limiter = RecordLimiter(perInterval: 2, intervalMs: 1000)
        XCTAssertTrue(limiter.admit("command_refused", nowMs: 500))
        XCTAssertEqual(limiter.flush(nowMs: 5000), [])
        XCTAssertTrue(limiter.windows.isEmpty, "ended windows are forgotten")
        XCTAssertTrue(limiter.admit("command_refused", nowMs: 5000))
        XCTAssertTrue(limiter.admit("command_refused", nowMs: 5001))
        XCTAssertFalse(limiter.admit("command_refused", nowMs: 5002))
        XCTAssertEqual(limiter.flush(nowMs: 100), [.init(kind: "command_refused", suppressed: 1, intervalMs: 1000)])
    }

    func testOnlyRefusalsAreLimited() {
        XCTAssertTrue(RecordLimiter.limitedKinds.isSuperset(of: ["forged_refused", "command_refused", "frame_replayed",
                                                                  "frame_unauthenticated", "frame_unknown"]))
        XCTAssertFalse(RecordLimiter.limitedKinds.contains("kill_switch"))
        XCTAssertFalse(RecordLimiter.limitedKinds.contains("shield_attempt"), "scenario reports count these")
    }
}
