import KithControl
import KithJSON
import XCTest
@testable import KithLab

/// The per-node table every fan-out command prints and the rule that decides whether it exits 1:
/// a frozen node (it accepts the connection, then never answers) fails the command, a crashed one
/// (its port refuses the connection) is reported but not required, a refusal always fails it.
final class FanOutTableTests: XCTestCase {
    private func outcome(_ name: String, _ state: String, _ result: Result<JSON, ControlError>) -> FleetOutcome {
        FleetOutcome(member: FleetMember(name: name, control: "127.0.0.1:1", state: state), result: result)
    }

    private let answered: Result<JSON, ControlError> = .success(["ok": true])
    private let frozen: Result<JSON, ControlError> = .failure(.unanswered("127.0.0.1:1", expiresMs: 0))
    private let timedOut: Result<JSON, ControlError> = .failure(.timedOut("127.0.0.1:1"))
    private let crashed: Result<JSON, ControlError> = .failure(.unreachable("127.0.0.1:1", reason: "connection refused"))
    private let refused: Result<JSON, ControlError> = .failure(.rejected("127.0.0.1:1", message: "expired"))

    func test_allButGone_withAFrozenDeadNode_fails_namingIt() {
        let table = FanOutTable([outcome("n1", "alive", answered), outcome("n2", "dead", frozen)], what: "kill-switch", rule: .allButGone)
        XCTAssertTrue(table.failed)
        XCTAssertEqual(table.rows.map(\.result), [.ok, .noAnswer])
        XCTAssertEqual(table.failure, "kill-switch: no answer from n2")
    }

    func test_allButGone_withACrashedDeadNode_reportsIt_butDoesNotFail() {
        let table = FanOutTable([outcome("n1", "alive", answered), outcome("n3", "dead", crashed)], what: "heal", rule: .allButGone)
        XCTAssertFalse(table.failed)
        XCTAssertNil(table.failure)
        XCTAssertEqual(table.rows.map(\.result), [.ok, .notRequired])
        XCTAssertTrue(table.rendered().contains("n3    dead   no answer, not required  cannot reach node at 127.0.0.1:1: connection refused"),
                      table.rendered())
    }

    func test_allButGone_withALiveNodeRefusingTheConnection_fails_untilTheOthersSeeItDead() {
        let table = FanOutTable([outcome("n1", "alive", crashed)], what: "halt", rule: .allButGone)
        XCTAssertEqual(table.failure, "halt: no answer from n1")
    }

    func test_allButGone_withALeftNodeSilent_doesNotFail() {
        XCTAssertFalse(FanOutTable([outcome("n4", "left", timedOut)], what: "resume", rule: .allButGone).failed)
    }

    func test_everyRule_withARefusal_fails() {
        for rule in [FanOutRule.allButGone, .everyAddressed, .live] {
            let table = FanOutTable([outcome("n1", "alive", answered), outcome("n2", "alive", refused)], what: "revive", rule: rule)
            XCTAssertEqual(table.failure, "revive: refused by n2", "\(rule)")
            XCTAssertEqual(table.rows[1].detail, "expired")
        }
    }

    func test_aRequestNeverSent_failsUnderEveryRule_evenToACrashedNode() {
        let pinMismatch: Result<JSON, ControlError> = .failure(.unsigned("127.0.0.1:1", reason: "its public key is not the one pinned"))
        for rule in [FanOutRule.allButGone, .everyAddressed, .live] {
            let table = FanOutTable([outcome("n1", "alive", answered), outcome("n2", "dead", pinMismatch)], what: "keys install", rule: rule)
            XCTAssertEqual(table.rows.map(\.result), [.ok, .notSent])
            XCTAssertEqual(table.failure, "keys install: not sent to n2", "\(rule)")
        }
        XCTAssertEqual(FanOutTable.json([outcome("n2", "alive", pinMismatch)], rule: .allButGone).first?["result"], "not_sent")
    }

    func test_everyAddressed_withACrashedDeadNode_fails() {
        let table = FanOutTable([outcome("n1", "alive", answered), outcome("n3", "dead", crashed)], what: "partition", rule: .everyAddressed)
        XCTAssertEqual(table.failure, "partition: no answer from n3")
    }

    func test_live_withAFrozenDeadNode_doesNotFail_butAFrozenSuspectOneDoes() {
        XCTAssertFalse(FanOutTable([outcome("n2", "dead", frozen)], what: "faults", rule: .live).failed)
        XCTAssertTrue(FanOutTable([outcome("n2", "suspect", frozen)], what: "faults", rule: .live).failed)
    }

    func test_failure_namesRefusalsThenSilences() {
        let table = FanOutTable([outcome("n1", "alive", refused), outcome("n2", "alive", timedOut), outcome("n3", "dead", frozen)],
                                what: "quarantine", rule: .allButGone)
        XCTAssertEqual(table.failure, "quarantine: refused by n1; no answer from n2, n3")
    }

    func test_rendered_alignsColumns_andSaysWhatAnAnswerDid() {
        let table = FanOutTable([outcome("n1", "alive", answered), outcome("n10", "dead", frozen)], what: "heal", rule: .allButGone,
                                ok: "healed") { $0.member.name == "n1" ? "healed 2 faults" : nil }
        let lines = table.rendered().split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(lines[0], "NODE  STATE  RESULT     DETAIL")
        XCTAssertEqual(lines[1], "n1    alive  ok         healed 2 faults")
        XCTAssertTrue(lines[2].hasPrefix("n10   dead   no answer  node at 127.0.0.1:1: no answer"), lines[2])
        XCTAssertFalse(table.rendered().contains("\u{1B}"), "no colour unless asked for")
    }

    func test_rendered_withColour_keepsTheColumnsAligned() {
        let table = FanOutTable([outcome("n1", "alive", answered), outcome("n2", "dead", crashed)], what: "heal", rule: .allButGone)
        let plain = table.rendered().split(separator: "\n").map(String.init)
        let coloured = table.rendered(colour: true).split(separator: "\n").map { line in
            String(line.replacing(/\x{1B}\[[0-9]+m/, with: ""))
        }
        XCTAssertEqual(coloured, plain)
        XCTAssertTrue(table.rendered(colour: true).contains("\u{1B}[32mok"))
    }

    func test_json_keepsTheOutcomeKeys_andAddsResultAndRequired() throws {
        let entries = FanOutTable.json([outcome("n1", "alive", answered), outcome("n2", "dead", crashed), outcome("n3", "dead", frozen),
                                        outcome("n4", "alive", refused)], rule: .allButGone)
        XCTAssertEqual(entries.map { $0["node"] }, ["n1", "n2", "n3", "n4"])
        XCTAssertEqual(entries.map { $0["result"] }, ["ok", "not_required", "no_answer", "refused"])
        XCTAssertEqual(entries.map { $0["required"] }, [true, false, true, true])
        XCTAssertEqual(entries[0]["ok"], true)
        XCTAssertEqual(entries[0]["reply"], ["ok": true])
        XCTAssertEqual(entries[1]["member_state"], "dead")
        XCTAssertNotNil(entries[1]["unreachable"]?.stringValue)
        XCTAssertEqual(entries[3]["refused"], "expired")
    }
}
