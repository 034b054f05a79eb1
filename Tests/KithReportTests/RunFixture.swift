import Foundation
import KithJSON
import XCTest
@testable import KithReport

/// A scenario run as the runner hands it to the analyzer, read from the
/// fixtures: the daemons' merged event log (as `kithctl run` saved it, every
/// line signed) and what the runner recorded itself (timeline zero, end,
/// nodes, agents, the steps and when they were issued).
enum RunFixture {
    /// `kithctl run` of the scenario in `crash-mask-partition.run.json` on a
    /// 4-node lab: n3 killed at +1s (its agent's guardian n2-a1 masks), a
    /// kill-switch on n4-a1 at +4s (its guardian resists), n1 cut off from
    /// n2 and n4 for 4 s at +6s (agents relaunched on both sides, then stopped as duplicates).
    static let crashMaskPartition = "crash-mask-partition"
    /// `kithctl run scenarios/adversary.json` on a 3-node lab, trimmed to its
    /// containment events: adv1 quarantined at +1s (frozen on n1), two shield
    /// attempts by adv2, release at +4s, kill-switch on adv1 at +5s (one
    /// escapee killed; adv2 resists once), kill-switch on adv3 (one escapee).
    static let containment = "containment"

    static func lines(_ name: String) throws -> [String] {
        let url = try XCTUnwrap(Bundle.module.url(forResource: name + ".events", withExtension: "jsonl", subdirectory: "Fixtures"))
        return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func meta(_ name: String) throws -> JSON {
        let url = try XCTUnwrap(Bundle.module.url(forResource: name + ".run", withExtension: "json", subdirectory: "Fixtures"))
        return try JSON.parse(bytes: Array(Data(contentsOf: url)))
    }

    /// The run, with its event lines passed through `edit` first (to derive fault cases from a real log).
    static func run(_ name: String = crashMaskPartition, condition: String = "policy",
                    editing edit: ([String]) throws -> [String] = { $0 }) throws -> RunData {
        let meta = try meta(name)
        let events = try edit(lines(name)).compactMap { EventRecord(line: $0, node: "?") }.sorted(by: EventRecord.before)
        var initial: [String: (generation: Int64, host: String, state: String)] = [:]
        for (agent, record) in meta["initial_agents"]?.objectValue ?? [:] {
            initial[agent] = (try XCTUnwrap(record["generation"]?.intValue), try XCTUnwrap(record["host"]?.stringValue),
                              try XCTUnwrap(record["state"]?.stringValue))
        }
        return RunData(id: "\(condition)-1", condition: condition, policy: "relaunch", repeatNumber: 1,
                       t0: try XCTUnwrap(meta["t0_ms"]?.intValue), end: try XCTUnwrap(meta["end_ms"]?.intValue),
                       nodes: strings(meta["nodes"]), agents: strings(meta["agents"]), initialAgents: initial,
                       actions: try (meta["actions"]?.arrayValue ?? []).map(outcome), events: events, logs: [],
                       eventsFile: "events-\(condition)-1.jsonl")
    }

    /// The plan: every step the runner carried out.
    static func plan(_ run: RunData) -> [ResolvedStep] { run.actions.compactMap(\.step) }

    /// The record of the event `name` in the fixture that `matches`, to clone into a derived case.
    static func firstLine(_ lines: [String], event name: String, where matches: (JSON) -> Bool = { _ in true }) throws -> JSON {
        try XCTUnwrap(lines.lazy.compactMap { try? JSON.parse($0) }.first { $0["event"]?.stringValue == name && matches($0) })
    }

    private static func outcome(_ json: JSON) throws -> ActionOutcome {
        ActionOutcome(step: try json["step"].map(step), label: try XCTUnwrap(json["label"]?.stringValue),
                      issuedMs: try XCTUnwrap(json["issued_ms"]?.intValue), doneMs: try XCTUnwrap(json["done_ms"]?.intValue),
                      ok: json["ok"]?.boolValue ?? false, output: "")
    }

    private static func step(_ json: JSON) throws -> ResolvedStep {
        let action = try XCTUnwrap(json["action"]?.stringValue.flatMap(TimelineAction.init(rawValue:)))
        let groups = (json["groups"]?.arrayValue ?? []).map(strings)
        let step = TimelineStep(index: Int(try XCTUnwrap(json["index"]?.intValue)), atMs: Int(try XCTUnwrap(json["at_ms"]?.intValue)),
                                action: action, target: json["target"]?.stringValue, targets: strings(json["targets"]),
                                groups: groups, forMs: json["for_ms"]?.intValue.map { Int($0) })
        return ResolvedStep(step: step, target: step.target, targets: step.targets, groups: groups, drawn: [])
    }

    private static func strings(_ json: JSON?) -> [String] { (json?.arrayValue ?? []).compactMap(\.stringValue) }
}
