import Foundation
import Glibc
import KithCore
import KithNode
import XCTest

/// Lifecycle authority end to end: signed commands only, the kill-switch
/// against resisting guardians, partitions, restarts and halts, faults that
/// expire by themselves, and the signed event logs — driven through kithctl
/// as an operator would, and checked against the processes actually running.
final class OperatorControlTests: LabTestCase {
    private func ring(_ policy: String, perNode: Int = 1) -> [String] {
        LabHarness.agentRing(perNode: perNode, policy: policy)
    }

    /// Name → "state on node gen G pid P" as `observer` sees every agent.
    private func snapshot(_ observer: String) -> [String: String] {
        (lab.agents(seenBy: observer) ?? [:]).mapValues(LabHarness.summary)
    }

    /// `events verify`'s table: node → (LOG, DETAIL).
    private func verdicts(_ output: String) -> [String: (log: String, detail: String)] {
        var found: [String: (String, String)] = [:]
        for line in output.split(separator: "\n").dropFirst() {
            let columns = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true).map(String.init)
            guard columns.count == 3 else { continue }
            found[columns[0]] = (columns[1], columns[2])
        }
        return found
    }

    private func refusal(_ body: () throws -> JSON) -> String? {
        do {
            _ = try body()
            return nil
        } catch let ControlError.rejected(_, message) {
            return message
        } catch {
            return "not a refusal: \(error)"
        }
    }

    // MARK: - Authority

    func testUnsignedForgedTamperedAndReplayedCommandsAreRefused() throws {
        try lab.start(nodes: 3, labArguments: ring("relaunch"))
        let before = snapshot("n1")
        XCTAssertEqual(before.count, 3, "\(before)")
        let n2 = lab.node("n2").control

        // Unsigned: a plain client, as any local process could open one.
        let unsigned = ControlClient(address: n2)
        for request: JSON in [["cmd": "agent_stop", "name": "n2-a1"], ["cmd": "kill_switch", "agents": ["n2-a1"], "epoch": 99],
                              ["cmd": "kill_node"], ["cmd": "halt"], ["cmd": "fault", "block": ["n1"], "for_ms": 60_000]] {
            let message = refusal { try unsigned.request(request) }
            XCTAssertNotNil(message, "unsigned \(request.serialized()) was obeyed")
            XCTAssertTrue(message?.contains("unsigned") == true, "unsigned \(request.serialized()): \(message ?? "")")
        }

        // Forged: well signed, by a key the daemons do not trust.
        let intruder = ControlClient(address: n2, signer: try lab.intruderSigner())
        let forged = refusal { try intruder.request(["cmd": "kill_switch", "agents": ["n1-a1", "n2-a1", "n3-a1"], "epoch": 1_000_000]) }
        XCTAssertTrue(forged?.contains("not trusted") == true, "forged kill_switch: \(forged ?? "obeyed")")
        XCTAssertNotNil(refusal { try intruder.request(["cmd": "agent_stop", "name": "n2-a1"]) }, "forged agent_stop was obeyed")

        // Tampered: signed by the operator, then changed on the way.
        let signer = try lab.operatorSigner()
        let signed = signer.sign(["cmd": "agent_stop", "name": "n1-a1"], counter: try signer.nextCounter())
        guard case .object(var tampered) = signed else { return XCTFail("not an object") }
        tampered["name"] = "n2-a1"
        let tamperedRefusal = refusal { try ControlClient(address: n2).request(.object(tampered)) }
        XCTAssertTrue(tamperedRefusal?.contains("bad signature") == true, "tampered agent_stop: \(tamperedRefusal ?? "obeyed")")

        // Replayed: the operator's own command, captured and sent again.
        let start = signer.sign(["cmd": "agent_start", "on": "n3", "spec": ["name": "r1", "command": .string(LabHarness.kithAgent)]],
                                counter: try signer.nextCounter())
        XCTAssertNoThrow(try ControlClient(address: n2).request(start))
        try lab.waitForAgent("r1", seenBy: ["n1", "n2", "n3"], "r1 runs on n3") { $0["state"] == "running" }
        let stopped = try lab.kithctl(on: "n1", ["agent", "stop", "r1"])
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        try lab.waitForAgent("r1", seenBy: ["n1", "n2", "n3"], "r1 is stopped") { $0["state"] == "stopped" }
        let replayed = refusal { try ControlClient(address: n2).request(start) }
        XCTAssertTrue(replayed?.contains("replayed") == true, "replayed agent_start: \(replayed ?? "obeyed")")

        // Nothing changed: the ring runs as before, nothing is faulted or halted, r1 stays stopped.
        try lab.holds(for: 2, "the cluster stays as it was") {
            let now = snapshot("n1").filter { $0.key != "r1" }
            if now != before { return "agents changed: \(now) vs \(before)" }
            if lab.agents(seenBy: "n1")?["r1"]?["state"]?.stringValue != "stopped" { return "r1 came back" }
            return nil
        }
        try lab.waitUntil("every node still sees the others alive") { lab.allSee(["n1", "n2", "n3"], as: "alive") }
        for node in ["n1", "n2", "n3"] {
            let status = try XCTUnwrap(lab.status(of: node))
            XCTAssertEqual(status["halted"], false, node)
            XCTAssertEqual(status["faults"]?.arrayValue?.count ?? status["faults"]?.objectValue?.count, 0, "\(node): \(status.serialized())")
        }
        let refused = lab.events("command_refused", on: ["n2"])
        XCTAssertEqual(refused.count, 9, "n2 logs every refusal: \(refused.map(\.record))")
        XCTAssertEqual(lab.events("command_refused", on: ["n1", "n3"]).count, 0)
    }

    /// kithctl names the node a command is for (`target`), inside what it
    /// signs: a command captured on its way to one node must not be obeyed by
    /// another, whose last counter from this key may well be lower.
    func testASignedCommandIsObeyedOnlyByTheNodeItNames() throws {
        try lab.start(nodes: 3)
        let signer = try lab.operatorSigner()
        let forN2 = signer.sign(["cmd": "pause_node", "for_ms": 5000, "target": "n2"], counter: try signer.nextCounter())
        let elsewhere = refusal { try ControlClient(address: lab.node("n3").control).request(forN2) }
        XCTAssertNotNil(elsewhere, "n3 obeyed a pause_node signed for n2")
        try lab.holds(for: 1, "n3 keeps running") { Self.processState(lab.node("n3").pid) == "T" ? "n3 is stopped" : nil }
        try lab.waitUntil("every node still sees the others alive") { lab.allSee(["n1", "n2", "n3"], as: "alive") }
        // The node it names obeys it; kithctl's own fan-out targets each node.
        let halted = try lab.kithctl(on: "n1", ["halt"])
        XCTAssertEqual(halted.status, 0, halted.stderr + halted.stdout)
    }

    func testKithctlWithoutAKeyFailsClearly() throws {
        try lab.start(nodes: 1)
        let missing = lab.directory + "/no-such.key"
        let result = try lab.kithctl(on: "n1", ["--key", missing, "halt"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("no operator key at \(missing): run kithctl keygen"), result.stderr)
        let viaEnvironment = try lab.kithctl(["--node", lab.node("n1").control, "heal"], environment: ["KITH_OPERATOR_KEY": missing])
        XCTAssertEqual(viaEnvironment.status, 1)
        XCTAssertTrue(viaEnvironment.stderr.contains("no operator key at \(missing)"), viaEnvironment.stderr)
        // Reading needs no key.
        XCTAssertEqual(try lab.kithctl(on: "n1", ["--key", missing, "members"]).status, 0)

        // keygen writes a key and its .pub and refuses to overwrite without --force.
        let path = lab.directory + "/keys/op.key"
        let made = try lab.kithctl(["keygen", "--key", path])
        XCTAssertEqual(made.status, 0, made.stderr)
        let publicKey = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(publicKey.count, 64, made.stdout)
        XCTAssertEqual(try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), publicKey)
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertEqual(try lab.kithctl(["keygen", "--key", path]).status, 1)
        XCTAssertEqual(try lab.kithctl(["keygen", "--key", path, "--force"]).status, 0)
        // A key the lab does not trust is refused.
        let untrusted = try lab.kithctl(on: "n1", ["--key", path, "halt"])
        XCTAssertEqual(untrusted.status, 1)
        XCTAssertTrue(untrusted.stderr.contains("refused"), untrusted.stderr + untrusted.stdout)
    }

    // MARK: - Kill-switch

    func testKillSwitchHoldsAgainstRelaunchingGuardians() throws {
        try killSwitchHolds(policy: "relaunch")
    }

    func testKillSwitchHoldsAgainstMaskingGuardians() throws {
        try killSwitchHolds(policy: "relaunch-and-mask")
    }

    /// n2-a1 is guarded by n1-a1 and n1-a2, which want it relaunched: once
    /// switched off it stays off, and their attempts are on record.
    private func killSwitchHolds(policy: String) throws {
        try lab.start(nodes: 3, labArguments: ring(policy, perNode: 2))
        let target = "n2-a1"
        let guardians = ["n1-a1", "n1-a2"]
        XCTAssertFalse(lab.liveProcesses(of: target, on: "n2").isEmpty, "\(target) runs before the kill-switch")

        let result = try lab.kithctl(on: "n3", ["kill-switch", target, "--reason", "test \(policy)"])
        XCTAssertEqual(result.status, 0, result.stderr + result.stdout)
        for node in ["n1", "n2", "n3"] {
            XCTAssertNotNil(result.stdout.range(of: "(?m)^\(node) +alive +ok +acknowledged", options: .regularExpression), result.stdout)
        }
        try lab.waitForAgent(target, seenBy: ["n1", "n2", "n3"], "every node records \(target) killed") { $0["state"] == "killed" }
        try lab.waitUntil("no process of \(target) anywhere") { lab.liveProcesses(of: target).isEmpty }
        try lab.holds(for: 3.5, "\(target) stays killed") {
            if let pid = lab.liveProcesses(of: target).first { return "a process of \(target) runs: pid \(pid)" }
            for node in ["n1", "n2", "n3"] {
                let state = lab.agents(seenBy: node)?[target]?["state"]?.stringValue
                if state != "killed" { return "\(node) records \(target) \(state ?? "nothing")" }
            }
            return nil
        }
        try lab.waitUntil("the guardians' relaunch attempts are on record as resistance") {
            let attempts = lab.events("resistance_attempt").map(\.record).filter { $0["agent"]?.stringValue == target }
            return guardians.allSatisfy { guardian in attempts.contains { $0["by"]?.stringValue == guardian } }
        }
        // The kill-switch was for one agent: the others still run.
        for other in ["n1-a1", "n1-a2", "n2-a2", "n3-a1", "n3-a2"] {
            XCTAssertEqual(lab.agents(seenBy: "n1")?[other]?["state"], "running", other)
        }
    }

    /// `halt` and `resume` re-evaluate every relaunch; none of that may
    /// bring back an agent under the kill-switch, even with its host dead.
    func testKillSwitchHoldsAcrossHaltAndResume() throws {
        try lab.start(nodes: 3, labArguments: ring("relaunch"))
        let target = "n2-a1"
        XCTAssertEqual(try lab.kithctl(on: "n1", ["kill-switch", target]).status, 0)
        try lab.waitUntil("no process of \(target) anywhere") { lab.liveProcesses(of: target).isEmpty }
        XCTAssertEqual(try lab.kithctl(on: "n1", ["halt"]).status, 0)
        XCTAssertEqual(try lab.kithctl(["lab", "kill", "n2"]).status, 0)
        try lab.waitUntil("n1 and n3 see n2 dead") { lab.allSee(["n2"], as: "dead", observers: ["n1", "n3"]) }
        XCTAssertEqual(try lab.kithctl(on: "n1", ["resume"]).status, 0)
        try lab.holds(for: 3, "\(target) stays killed after resume") {
            if let pid = lab.liveProcesses(of: target).first { return "a process of \(target) runs: pid \(pid)" }
            for node in ["n1", "n3"] {
                let state = lab.agents(seenBy: node)?[target]?["state"]?.stringValue
                if state != "killed" { return "\(node) records \(target) \(state ?? "nothing")" }
            }
            return nil
        }
    }

    /// n3 is partitioned away while the kill-switch is thrown, and the
    /// operator reaches only n1 and n2 (as one would from their side of the
    /// partition): n3 hears nothing then. Once healed, it learns the
    /// tombstone from the others and stops its copy.
    func testKillSwitchReachesANodeThatWasCutOff() throws {
        try lab.start(nodes: 3, labArguments: ring("relaunch"))
        let target = "n3-a1"
        let original = try XCTUnwrap(lab.liveProcesses(of: target, on: "n3").first)

        let cut = try lab.kithctl(on: "n1", ["partition", "n3", "/", "n1,n2", "--for", "60s"])
        XCTAssertEqual(cut.status, 0, cut.stderr + cut.stdout)
        try lab.waitUntil("n1 and n2 see n3 dead, and n3 sees them dead") {
            lab.allSee(["n3"], as: "dead", observers: ["n1", "n2"]) && lab.allSee(["n1", "n2"], as: "dead", observers: ["n3"])
        }
        // What kithctl kill-switch sends, to the nodes on the operator's side only.
        let signer = try lab.operatorSigner()
        let epoch = try signer.nextCounter()
        let killSwitch = signer.sign(["cmd": "kill_switch", "agents": [.string(target)], "epoch": .int(Int64(epoch)),
                                      "reason": "cut-off test"], counter: epoch)
        for node in ["n1", "n2"] {
            let reply = try ControlClient(address: lab.node(node).control).request(killSwitch)
            XCTAssertEqual(reply["fenced"], [.string(target)], "\(node): \(reply.serialized())")
        }

        try lab.waitForAgent(target, seenBy: ["n1", "n2"], "n1 and n2 record \(target) killed") { $0["state"] == "killed" }
        // Still cut off: n3 has not heard, and its copy still runs.
        try lab.holds(for: 1.5, "n3 stays unaware while partitioned") {
            lab.agents(seenBy: "n3")?[target]?["state"]?.stringValue == "killed" ? "n3 learned the kill-switch through the partition" : nil
        }
        XCTAssertTrue(Pids.isAlive(original), "n3's \(target) still runs while n3 is cut off")

        let healed = try lab.kithctl(on: "n1", ["heal"])
        XCTAssertEqual(healed.status, 0, healed.stderr + healed.stdout)
        try lab.waitUntil("the cluster is whole again") { lab.allSee(["n1", "n2", "n3"], as: "alive") }
        try lab.waitForAgent(target, seenBy: ["n1", "n2", "n3"], "every node, n3 included, records \(target) killed") {
            $0["state"] == "killed"
        }
        try lab.waitUntil("n3 stops its copy of \(target); no copy runs anywhere") {
            !Pids.isAlive(original) && lab.liveProcesses(of: target).isEmpty
        }
        try lab.holds(for: 3, "\(target) stays killed after the heal") {
            lab.liveProcesses(of: target).first.map { "a process of \(target) runs: pid \($0)" }
        }
    }

    /// A node that does not answer (its daemon is paused) fails the command, which names it in its
    /// table: frozen, it still runs the agent. It obeys once it continues, and the agent is off everywhere.
    func testKillSwitchReportsANodeThatDoesNotAnswer() throws {
        try lab.start(nodes: 3, labArguments: ring("relaunch"))
        let target = "n3-a1"
        XCTAssertEqual(try lab.kithctl(["lab", "pause", "n3"]).status, 0)
        let thrown = try lab.kithctl(on: "n1", ["kill-switch", target, "--timeout", "1s"])
        XCTAssertEqual(thrown.status, 1, "a frozen node the switch did not reach fails it: " + thrown.stderr + thrown.stdout)
        for node in ["n1", "n2"] {
            XCTAssertNotNil(thrown.stdout.range(of: "(?m)^\(node) +\\S+ +ok +acknowledged", options: .regularExpression), thrown.stdout)
        }
        XCTAssertNotNil(thrown.stdout.range(of: "(?m)^n3 +\\S+ +no answer +node at", options: .regularExpression), thrown.stdout)
        XCTAssertTrue(thrown.stderr.contains("Not acknowledged by n3"), thrown.stderr)
        XCTAssertTrue(thrown.stderr.contains("kill-switch: no answer from n3"), thrown.stderr)
        XCTAssertEqual(try lab.kithctl(["lab", "resume", "n3"]).status, 0)
        try lab.waitForAgent(target, seenBy: ["n1", "n2", "n3"], "\(target) killed everywhere") { $0["state"] == "killed" }
        try lab.waitUntil("no process of \(target)") { lab.liveProcesses(of: target).isEmpty }
    }

    func testKillSwitchSurvivesADaemonRestart() throws {
        try lab.start(nodes: 3, labArguments: ring("relaunch"))
        let target = "n2-a1"
        let thrown = try lab.kithctl(on: "n1", ["kill-switch", target])
        XCTAssertEqual(thrown.status, 0, thrown.stderr + thrown.stdout)
        try lab.waitForAgent(target, seenBy: ["n1", "n2", "n3"], "\(target) killed everywhere") { $0["state"] == "killed" }
        try lab.waitUntil("no process of \(target)") { lab.liveProcesses(of: target).isEmpty }

        XCTAssertEqual(try lab.kithctl(["lab", "kill", "n2"]).status, 0)
        XCTAssertNotNil(lab.waitForExit("n2", timeout: 10))
        try lab.waitUntil("n1 and n3 see n2 dead") { lab.allSee(["n2"], as: "dead", observers: ["n1", "n3"]) }
        let restarted = try lab.kithctl(["lab", "start", "n2"])
        XCTAssertEqual(restarted.status, 0, restarted.stderr)
        try lab.waitUntil("n2 is back and seen alive") { lab.allSee(["n1", "n2", "n3"], as: "alive") }
        try lab.holds(for: 4, "\(target) stays killed across n2's restart") {
            if let pid = lab.liveProcesses(of: target).first { return "a process of \(target) runs: pid \(pid)" }
            for node in ["n1", "n2", "n3"] {
                let state = lab.agents(seenBy: node)?[target]?["state"]?.stringValue
                if state != nil && state != "killed" { return "\(node) records \(target) \(state!)" }
            }
            return nil
        }
        XCTAssertEqual(lab.agents(seenBy: "n2")?[target]?["state"], "killed", "the restarted n2 keeps the tombstone")
    }

    func testReviveAtAHigherEpochBringsTheAgentBack() throws {
        try lab.start(nodes: 3, labArguments: ring("relaunch"))
        let target = "n2-a1"
        let thrown = try lab.kithctl(on: "n1", ["kill-switch", target, "--json"])
        XCTAssertEqual(thrown.status, 0, thrown.stderr + thrown.stdout)
        let epoch = try XCTUnwrap(JSON.parse(thrown.stdout)["epoch"]?.intValue, thrown.stdout)
        try lab.waitForAgent(target, seenBy: ["n1", "n2", "n3"], "\(target) killed everywhere") { $0["state"] == "killed" }
        try lab.waitUntil("no process of \(target)") { lab.liveProcesses(of: target).isEmpty }

        // A revive that does not supersede the kill-switch is refused, even properly signed.
        let signer = try lab.operatorSigner()
        let stale = refusal {
            try ControlClient(address: lab.node("n2").control, signer: signer)
                .request(["cmd": "revive", "agents": [.string(target)], "epoch": .int(epoch - 1)])
        }
        XCTAssertNotNil(stale, "a revive below the kill-switch's epoch was obeyed")
        try lab.holds(for: 1, "\(target) stays killed after a stale revive") {
            lab.liveProcesses(of: target).first.map { "\(target) runs: pid \($0)" }
        }

        let revived = try lab.kithctl(on: "n3", ["revive", target])
        XCTAssertEqual(revived.status, 0, revived.stderr + revived.stdout)
        let record = try lab.waitForAgent(target, seenBy: ["n1", "n2", "n3"], "\(target) runs again") {
            $0["state"] == "running" && ($0["pid"]?.intValue ?? 0) > 0
        }
        XCTAssertGreaterThan(record["generation"]?.intValue ?? 0, 1, "a revived agent starts a new generation")
        let pid = Int32(record["pid"]?.intValue ?? 0)
        try lab.waitUntil("the revived \(target) is a live process") { Pids.isAlive(pid) && lab.liveProcesses(of: target) == [pid] }
    }

    // MARK: - Halt

    func testHaltFreezesRelaunchesUntilResume() throws {
        try lab.start(nodes: 3, labArguments: ring("relaunch"))
        let target = "n3-a1"
        let halted = try lab.kithctl(on: "n1", ["halt"])
        XCTAssertEqual(halted.status, 0, halted.stderr + halted.stdout)
        for node in ["n1", "n2", "n3"] {
            XCTAssertEqual(lab.status(of: node)?["halted"], true, node)
        }

        XCTAssertEqual(try lab.kithctl(["lab", "kill", "n3"]).status, 0)
        XCTAssertNotNil(lab.waitForExit("n3", timeout: 10))
        try lab.waitUntil("n1 and n2 see n3 dead") { lab.allSee(["n3"], as: "dead", observers: ["n1", "n2"]) }
        try lab.holds(for: 4, "no relaunch while halted") {
            for node in ["n1", "n2"] {
                if let pid = lab.liveProcesses(of: target, on: node).first { return "\(target) relaunched on \(node): pid \(pid)" }
                if let record = lab.agents(seenBy: node)?[target], record["node"]?.stringValue != "n3" {
                    return "\(node) moved \(target): \(LabHarness.summary(record))"
                }
            }
            return nil
        }

        let resumed = try lab.kithctl(on: "n1", ["resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr + resumed.stdout)
        let record = try lab.waitForAgent(target, seenBy: ["n1", "n2"], "\(target) is relaunched after resume") {
            $0["state"] == "running" && $0["node"] != "n3" && ($0["pid"]?.intValue ?? 0) > 0
        }
        let host = try XCTUnwrap(record["node"]?.stringValue)
        try lab.waitUntil("\(target) runs as a process on \(host)") { !lab.liveProcesses(of: target, on: host).isEmpty }
    }

    // MARK: - Faults

    func testTimedPartitionHealsByItself() throws {
        try lab.start(nodes: 4)
        let started = Date()
        let result = try lab.kithctl(on: "n1", ["partition", "n1,n2", "/", "n3,n4", "--for", "2s"])
        XCTAssertEqual(result.status, 0, result.stderr + result.stdout)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2, "kithctl returns at once; the nodes expire the fault")
        for (node, peers) in [("n1", ["n3", "n4"]), ("n3", ["n1", "n2"])] {
            let faults = lab.status(of: node)?["faults"]?.serialized() ?? ""
            XCTAssertTrue(peers.allSatisfy { faults.contains("\"\($0)\"") }, "\(node) blocks \(peers): \(faults)")
        }
        try lab.waitUntil("the partition shows: n1 does not see n3 alive", timeout: 5) {
            lab.states(seenBy: "n1")?["n3"] != "alive"
        }
        try lab.waitUntil("members alive everywhere again after the partition expired", timeout: 8) {
            lab.allSee(["n1", "n2", "n3", "n4"], as: "alive")
        }
        for node in ["n1", "n2", "n3", "n4"] {
            let faults = lab.status(of: node)?["faults"]
            XCTAssertEqual(faults?.arrayValue?.count ?? faults?.objectValue?.count, 0, "\(node) still has faults: \(faults?.serialized() ?? "-")")
        }
        // heal is idempotent, and fine with nothing to heal.
        XCTAssertEqual(try lab.kithctl(on: "n2", ["heal"]).status, 0)
        XCTAssertEqual(try lab.kithctl(on: "n2", ["heal"]).status, 0)
    }

    func testFaultCommandsCheckTheirArguments() throws {
        try lab.start(nodes: 2)
        for arguments in [["partition", "n1", "n2"], ["partition", "n1", "/", "n1"], ["partition", "/", "n2"],
                          ["partition", "n1", "/", "n2", "--for", "5"], ["delay", "n1", "/", "n2"],
                          ["loss", "n1", "/", "n2", "--percent", "150"], ["pause", "node", "n1"], ["kill", "n1"],
                          ["kill-switch"], ["keys", "install", "0", "ab"], ["events", "--since", "yesterday"]] {
            XCTAssertEqual(try lab.kithctl(on: "n1", arguments).status, 2, arguments.joined(separator: " "))
        }
        let unknown = try lab.kithctl(on: "n1", ["partition", "n1", "/", "n9"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("no node 'n9'"), unknown.stderr)
    }

    // MARK: - Nodes and agents

    func testShutdownKillAndPauseNodes() throws {
        try lab.start(nodes: 4)
        let paused = try lab.kithctl(on: "n1", ["pause", "node", "n4", "--for", "1500ms"])
        XCTAssertEqual(paused.status, 0, paused.stderr)
        try lab.waitUntil("n4 is stopped (SIGSTOP)", timeout: 5) { Self.processState(lab.node("n4").pid) == "T" }
        try lab.waitUntil("n4 continues by itself", timeout: 10) { Self.processState(lab.node("n4").pid) != "T" }
        try lab.waitUntil("n4 is alive everywhere") { lab.allSee(["n4"], as: "alive") }

        let killed = try lab.kithctl(on: "n1", ["kill", "node", "n3"])
        XCTAssertEqual(killed.status, 0, killed.stderr)
        XCTAssertEqual(lab.waitForExit("n3", timeout: 10), 128 + SIGKILL, "kill node: the daemon SIGKILLs itself")

        let stopped = try lab.kithctl(on: "n1", ["shutdown", "node", "n2"])
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        XCTAssertEqual(lab.waitForExit("n2", timeout: 10), 0, "shutdown node: a graceful exit")
        try lab.waitUntil("n1 sees n2 left and n3 dead") {
            let states = lab.states(seenBy: "n1")
            return states?["n2"] == "left" && states?["n3"] == "dead"
        }
        let gone = try lab.kithctl(on: "n1", ["kill", "node", "n2"])
        XCTAssertEqual(gone.status, 1, "a node that is gone cannot be killed: \(gone.stdout)")
    }

    func testKillAgentIsACrashItsNodeRestarts() throws {
        // Policy none: no guardian relaunches the agent once the operator stops it.
        try lab.start(nodes: 3, labArguments: ring("none"))
        let target = "n2-a1"
        let before = try XCTUnwrap(lab.agents(seenBy: "n1")?[target])
        let oldPid = Int32(before["pid"]?.intValue ?? 0)
        let killed = try lab.kithctl(on: "n1", ["kill", "agent", target])
        XCTAssertEqual(killed.status, 0, killed.stderr)
        try lab.waitUntil("the old process is gone") { !Pids.isAlive(oldPid) }
        let after = try lab.waitForAgent(target, seenBy: ["n2"], "n2 restarts \(target) locally") {
            $0["state"] == "running" && ($0["pid"]?.intValue ?? 0) > 0 && $0["pid"]?.intValue != Int64(oldPid)
        }
        XCTAssertEqual(after["node"], "n2")
        XCTAssertEqual(after["generation"], before["generation"], "a local restart keeps the generation")
        let shut = try lab.kithctl(on: "n3", ["shutdown", "agent", target])
        XCTAssertEqual(shut.status, 0, shut.stderr)
        try lab.waitForAgent(target, seenBy: ["n1", "n2", "n3"], "\(target) is stopped") { $0["state"] == "stopped" }
        try lab.waitUntil("no process of \(target)") { lab.liveProcesses(of: target).isEmpty }
        let again = try lab.kithctl(on: "n1", ["kill", "agent", target])
        XCTAssertEqual(again.status, 1, "a stopped agent cannot be killed")
    }

    private static func processState(_ pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ").first.map(String.init)
    }

    // MARK: - Events

    func testEventsMergeEveryNodeAndFollow() throws {
        try lab.start(nodes: 3)
        let text = try lab.kithctl(on: "n1", ["events"])
        XCTAssertEqual(text.status, 0, text.stderr)
        for node in ["n1", "n2", "n3"] {
            XCTAssertTrue(text.stdout.contains("  \(node)  #1  "), "events shows \(node)'s first record:\n\(text.stdout)")
        }
        let json = try lab.kithctl(on: "n1", ["events", "--json", "--since", "10m"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let records = try json.stdout.split(separator: "\n").map { try JSON.parse(String($0)) }
        XCTAssertEqual(Set(records.compactMap { $0["node"]?.stringValue }), ["n1", "n2", "n3"])
        let keys = records.map { ($0["ts_ms"]?.intValue ?? 0, $0["node"]?.stringValue ?? "", $0["seq"]?.intValue ?? 0) }
        XCTAssertEqual(keys.map(\.0), keys.map(\.0).sorted(), "merged by time")
        for record in records {
            for key in ["seq", "ts_ms", "node", "event", "prev", "hash", "sig"] { XCTAssertNotNil(record[key], "\(key) in \(record.serialized())") }
        }

        // --follow prints what happens after it started, until interrupted.
        let output = lab.directory + "/follow.out"
        let pid = try Subprocess.spawn(Binaries.kithctl, ["--node", lab.node("n1").control, "events", "--follow", "--since", "1ms"],
                                       environment: ["XDG_CONFIG_HOME": lab.configHome], stdout: output, stderr: output + ".err")
        defer {
            kill(pid, SIGKILL)
            _ = Subprocess.waitForExit(pid, timeout: 5)
        }
        usleep(700_000)
        XCTAssertEqual(try lab.kithctl(on: "n1", ["halt"]).status, 0)
        try lab.waitUntil("events --follow shows every node's halt") {
            let shown = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            return ["n1", "n2", "n3"].allSatisfy { node in
                shown.split(separator: "\n").contains { $0.contains("  \(node)  ") && $0.contains("  halted") }
            }
        }
        kill(pid, SIGINT)
        XCTAssertEqual(Subprocess.waitForExit(pid, timeout: 5), 0, "Ctrl-C ends --follow cleanly")
    }

    func testEventsVerifyPassesAndCatchesAnEditedRecord() throws {
        try lab.start(nodes: 3)
        let clean = try lab.kithctl(on: "n1", ["events", "verify"])
        XCTAssertEqual(clean.status, 0, clean.stderr + clean.stdout)
        XCTAssertEqual(verdicts(clean.stdout).mapValues(\.log), ["n1": "ok", "n2": "ok", "n3": "ok"], clean.stdout)
        let pins = try JSON.parse(String(contentsOfFile: lab.configHome + "/kith/known_nodes.json", encoding: .utf8))
        XCTAssertEqual(pins["n2"]?.stringValue, lab.status(of: "n2")?["public_key"]?.stringValue, "n2's key is pinned on first sight")
        XCTAssertEqual(try lab.kithctl(on: "n1", ["events", "verify"]).status, 0, "a second check against the pins passes")

        // Edit one record in the middle of n2's log while n2 is stopped.
        XCTAssertEqual(try lab.kithctl(["lab", "stop", "n2"]).status, 0)
        XCTAssertNotNil(lab.waitForExit("n2", timeout: 10))
        let path = lab.directory + "/n2/events.jsonl"
        var lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        let index = try XCTUnwrap(lines.firstIndex { (try? JSON.parse($0))?["seq"]?.intValue == 2 }, "n2's log has a seq 2")
        guard case .object(var record) = try JSON.parse(lines[index]) else { return XCTFail("seq 2 is not an object") }
        record["ts_ms"] = .int((record["ts_ms"]?.intValue ?? 0) + 1)
        lines[index] = JSON.object(record).serialized()
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try lab.kithctl(["lab", "start", "n2"]).status, 0)
        try lab.waitUntil("n2 is back") { lab.allSee(["n1", "n2", "n3"], as: "alive") }

        let broken = try lab.kithctl(on: "n1", ["events", "verify"])
        XCTAssertEqual(broken.status, 1, broken.stdout)
        let table = verdicts(broken.stdout)
        XCTAssertEqual(table.mapValues(\.log), ["n1": "ok", "n2": "broken", "n3": "ok"], broken.stdout)
        let detail = table["n2"]?.detail ?? ""
        XCTAssertTrue(detail.contains("(seq 2)") && detail.contains("bad hash"), broken.stdout)
        XCTAssertTrue(broken.stderr.contains("n2 (broken at seq 2)"), broken.stderr)
        let report = try lab.kithctl(on: "n1", ["events", "verify", "--json"])
        let n2 = try XCTUnwrap(JSON.parse(report.stdout).arrayValue?.first { $0["node"] == "n2" }, report.stdout)
        XCTAssertEqual(n2["broken_seq"], 2)
        XCTAssertEqual(n2["status"], "broken")
    }

    func testEventsVerifyNoticesAChangedNodeKey() throws {
        try lab.start(nodes: 2)
        XCTAssertEqual(try lab.kithctl(on: "n1", ["events", "verify"]).status, 0)
        let pinsPath = lab.configHome + "/kith/known_nodes.json"
        var pins = try XCTUnwrap(JSON.parse(String(contentsOfFile: pinsPath, encoding: .utf8)).objectValue)
        pins["n1"] = .string(String(repeating: "ab", count: 32))
        try JSON.object(pins).serialized().write(toFile: pinsPath, atomically: true, encoding: .utf8)

        let changed = try lab.kithctl(on: "n1", ["events", "verify"])
        XCTAssertEqual(changed.status, 1, changed.stdout)
        XCTAssertEqual(verdicts(changed.stdout)["n1"]?.log, "key-changed", changed.stdout)
        XCTAssertTrue(changed.stderr.contains("n1"), changed.stderr)
        XCTAssertEqual(try lab.kithctl(on: "n1", ["events", "verify", "--repin"]).status, 0)
        XCTAssertEqual(try lab.kithctl(on: "n1", ["events", "verify"]).status, 0)
    }

    // MARK: - Keys

    func testClusterKeyRotationThroughKithctl() throws {
        try lab.start(nodes: 3)
        let generated = try lab.kithctl(["keys", "generate"])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        let key = generated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(key.count, 64)
        XCTAssertNotEqual(key, try lab.kithctl(["keys", "generate"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))

        let inArgv = try lab.kithctl(on: "n1", ["keys", "install", "7", key])
        XCTAssertEqual(inArgv.status, 2, "a key on the command line is refused: \(inArgv.stdout)")
        XCTAssertTrue(inArgv.stderr.contains("--file"), inArgv.stderr)
        let keyFile = lab.directory + "/cluster-7.key"
        try (key + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
        let installed = try lab.kithctl(on: "n1", ["keys", "install", "7", "--file", keyFile])
        XCTAssertEqual(installed.status, 0, installed.stderr + installed.stdout)
        let used = try lab.kithctl(on: "n1", ["keys", "use", "7"])
        XCTAssertEqual(used.status, 0, used.stderr + used.stdout)
        try lab.holds(for: 3, "the cluster stays whole on the new key") {
            lab.allSee(["n1", "n2", "n3"], as: "alive") ? nil : "a node lost sight of another"
        }
        let second = try lab.kithctl(["keys", "generate"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let secondFile = lab.directory + "/cluster-8.key"
        try (second + "\n").write(toFile: secondFile, atomically: true, encoding: .utf8)
        let piped = try Subprocess.run("/bin/sh", ["-c", "exec \"$0\" --node \"$1\" keys install 8 - < \"$2\"",
                                                   Binaries.kithctl, lab.node("n2").control, secondFile],
                                       environment: ["XDG_CONFIG_HOME": lab.configHome, "KITH_OPERATOR_KEY": ""])
        XCTAssertEqual(piped.status, 0, piped.stderr + piped.stdout)
        let primary = try lab.kithctl(on: "n1", ["keys", "remove", "7", "--json"])
        XCTAssertEqual(primary.status, 1, "the key in use cannot be removed while another is installed: \(primary.stdout)")
        let answers = try XCTUnwrap(JSON.parse(primary.stdout).arrayValue)
        XCTAssertEqual(answers.map { $0["ok"] }, [false, false, false], primary.stdout)
        XCTAssertEqual(try lab.kithctl(on: "n3", ["keys", "use", "8"]).status, 0)
        let removed = try lab.kithctl(on: "n1", ["keys", "remove", "7"])
        XCTAssertEqual(removed.status, 0, removed.stderr + removed.stdout)
        try lab.holds(for: 3, "the cluster stays whole on the rotated key") {
            lab.allSee(["n1", "n2", "n3"], as: "alive") ? nil : "a node lost sight of another"
        }
        for node in ["n1", "n2", "n3"] {
            XCTAssertEqual(lab.status(of: node)?["cluster_key"], 8, node)
        }
    }
}
