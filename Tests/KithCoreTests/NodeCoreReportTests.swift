import XCTest
@testable import KithCore

/// What an agent's `report` keeps: its free text, whole up to the bound the
/// event log keeps of a field, clipped past it on a character boundary.
/// kith-llm-agent records each step of its reasoning as one report, so a
/// bound cut shorter than that turns its records into broken JSON.
final class NodeCoreReportTests: XCTestCase {
    func testARecordOfAKiB_isKeptWholeInTheViewAndTheEvent() throws {
        // kith-llm-agent's longest record (python/kith/llm_agent.py RECORD_BYTES_MAX), valid JSON only whole.
        let body = #"{"episode":1,"told":""# + String(repeating: "x", count: 1024 - 32) + #""}"#
        let status = "llm_call " + body
        XCTAssertEqual(status.utf8.count, 1024)
        var core = Self.core()
        let out = core.handle(Self.report(status), now: AT.ms(1))

        XCTAssertEqual(core.reports["b1"]?["judge"], status)
        XCTAssertEqual(try Self.recorded(out)["reported"], .string(status))
        XCTAssertTrue(out.contains { if case .replyAgent(_, let body) = $0 { body["ok"] == true } else { false } })
    }

    func testAStatusOverTheBound_isClippedOnACharacterBoundary() throws {
        let status = String(repeating: "é", count: NodeCore.reportStatusBytesMax)  // two bytes each
        var core = Self.core()
        let out = core.handle(Self.report(status), now: AT.ms(1))

        let kept = try XCTUnwrap(core.reports["b1"]?["judge"])
        XCTAssertEqual(kept.utf8.count, NodeCore.reportStatusBytesMax)
        XCTAssertTrue(status.hasPrefix(kept))
        XCTAssertEqual(try Self.recorded(out)["reported"], .string(kept))
    }

    // MARK: - Helpers

    private static func core() -> NodeCore {
        var settings = NodeCore.Settings()
        settings.checksInvariants = true
        return NodeCore(me: AT.id("n1"), meta: NodeMeta(endpoint: AT.endpoint("n1")), settings: settings,
                        randomSeed: 1, now: .zero)
    }

    private static func report(_ status: String) -> NodeInput {
        .agentRequest(AgentOrigin(agent: "judge", generation: 1, id: 7), op: "report",
                      request: ["op": "report", "peer": "b1", "status": .string(status)])
    }

    private static func recorded(_ out: [NodeDirective]) throws -> JSON {
        let event = out.compactMap { directive -> NodeEvent? in
            if case .record(let event) = directive, event.name == "agent_report" { event } else { nil }
        }.first
        return .object(try XCTUnwrap(event, "no agent_report recorded").fields)
    }
}
