import XCTest
@testable import KithCore
@testable import KithSim

/// Agent properties under random faults, over many seeds.
///
/// Every run: 5-8 nodes, 2-3 agents per node in one guardian ring (each
/// protects the next, policy relaunch), each agent checkpointing its
/// counter; then a random schedule; then everything healed (partitions
/// removed, paused nodes resumed, stopped nodes rebooted) and the cluster
/// run until it settles (`AgentSimulation.isSettled`).
///
/// - (a) settled: every agent whose record wants a process has exactly one
///   connected process, on its host, at its generation; every node holds the
///   same records (generation, host, state) and tombstones; an agent left
///   `lost` has no live relaunch guardian (else it should have been relaunched).
/// - (b) checkpoints. What is guaranteed: a checkpoint acknowledged by its
///   host is held by two other nodes, so the loss of nodes (crashes, not
///   partitions) loses none: every spawn after the acknowledgement starts
///   from it or a newer one. Tested strictly on crash-only schedules. Under
///   split brain (partitions, pauses) the two sides checkpoint independent
///   copies and the merge keeps one generation: the other side's
///   acknowledged progress is dropped. Reported as a figure.
/// - (c) relaunch decisions: whenever a node relaunched an agent on itself,
///   every node that shared its view (the same alive members, and the same
///   record of the agent) picks the same target.
/// - (d) the kill-switch, thrown mid-schedule, always wins: no process of
///   the agent anywhere, `killed` on every node.
/// - (e) at every step, not only at the end (`AgentSimulation.violations`,
///   `MembershipMonitor`): no spawn on a node that knows the kill-switch, no
///   live copy there after any input; duplicates end once their hosts see
///   each other; no false *dead*, every crash detected in time, agreement
///   after every quiet spell. Every message goes through the wire codec.
/// - (f) agent messages (`MessageLedger`): at every step, each receiver copy
///   gets a message at most once and one sender's messages in order; at the
///   end, every message accepted long enough ago to have been given up on was
///   delivered or failed by id, unless its sender's node went down with it.
final class AgentPropertyTests: XCTestCase {
    // MARK: Scenario

    private enum Kind: String {
        /// Chaos.schedule (crashes, power-offs, reboots, pauses, partitions) plus agent crashes.
        case mixed
        /// Node crashes only, spaced at random, never below three running nodes; no reboots until the end.
        case crashes
        /// Node crashes and reboots of crashed nodes.
        case crashesAndReboots
    }

    private struct Options {
        var kind: Kind
        var duration: Duration = .seconds(15)
        var killSwitch = false
        /// Deliver the kill-switch command to only one random node (the rest learn by gossip).
        var killSwitchOnOneNode = false
        /// Quarantine one agent in the middle of the faults, and release it once they heal.
        var quarantine = false
        var quorum: RelaunchQuorum = .any
        var rebootAtEnd = true
        var checkpointInterval: Duration = .milliseconds(300)
        /// Agents send to the agent they protect this often (routing, holds and expiry exercised).
        var messageInterval: Duration? = .milliseconds(400)
        var network = NetworkConditions()
        /// 4-5 nodes of 1-2 agents (for many seeds) instead of 5-8 nodes of 2-3.
        var small = false
        /// How long the settled cluster runs on, quiet, to show it stays settled.
        var quiescence: Duration = .seconds(3)
    }

    private struct Run {
        var asim: AgentSimulation
        var agents: [String]
        var switchedOff: String?
        var quarantined: String?
        var settle: Duration?
        var faults: Int
    }

    private func ring(count: Int) -> [AgentSpec] {
        let names = (1...count).map { String(format: "a%02d", $0) }
        return names.enumerated().map { k, name in
            AgentSpec(name: name, command: "/bin/agent", protects: [names[(k + 1) % count]], policy: .relaunch)
        }
    }

    private enum Step {
        case fault(Fault)
        case crashAgent(String)
        case killSwitch(String)
        case quarantine(String)
    }

    private func timeline(_ options: Options, seed: UInt64, nodes: [String], agents: [String]) -> [(at: Duration, step: Step)] {
        var rng = SeededRandom(seed: seed ^ 0x6167_656E_7473)
        func below(_ n: Int) -> Int { Int(rng.next() % UInt64(max(n, 1))) }
        func ms(_ lo: Int, _ hi: Int) -> Duration { .milliseconds(lo + below(hi - lo)) }
        var steps: [(at: Duration, step: Step)] = []
        switch options.kind {
        case .mixed:
            steps = Chaos.schedule(seed: seed, nodes: nodes, duration: options.duration, meanGap: .seconds(1))
                .map { ($0.at, .fault($0.fault)) }
            var t = Duration.zero
            while true {
                t += ms(500, 4000)
                guard t < options.duration else { break }
                steps.append((t, .crashAgent(agents[below(agents.count)])))
            }
        case .crashes, .crashesAndReboots:
            var running = nodes, stopped: [String] = []
            var t = Duration.zero
            let maxDown = options.kind == .crashes ? nodes.count - 3 : max(1, nodes.count / 3)
            while true {
                t += ms(200, 3000)
                guard t < options.duration else { break }
                if options.kind == .crashesAndReboots, !stopped.isEmpty, stopped.count >= maxDown || below(2) == 0 {
                    let name = stopped.remove(at: below(stopped.count))
                    running.append(name)
                    steps.append((t, .fault(.restart(name))))
                } else if stopped.count < maxDown {
                    let name = running.remove(at: below(running.count))
                    stopped.append(name)
                    steps.append((t, .fault(.crash(name))))
                }
            }
        }
        if options.killSwitch {
            let at = Duration.milliseconds(2000 + below(Int(options.duration.seconds * 1000) - 4000))
            steps.append((at, .killSwitch(agents[below(agents.count)])))
        }
        if options.quarantine {
            let at = Duration.milliseconds(1000 + below(Int(options.duration.seconds * 1000) - 2000))
            steps.append((at, .quarantine(agents[below(agents.count)])))
        }
        return steps.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
    }

    /// Forms the cluster, starts the ring, runs the schedule, heals, and runs until settled.
    private func run(seed: UInt64, _ options: Options, file: StaticString = #filePath, line: UInt = #line) -> Run? {
        var rng = SeededRandom(seed: seed ^ 0x7368_6170_65)
        let n = options.small ? 4 + Int(rng.next() % 2) : 5 + Int(rng.next() % 4)
        let perNode = options.small ? 1 + Int(rng.next() % 2) : 2 + Int(rng.next() % 2)
        let asim = AgentSimulation(seed: seed, network: options.network, quorum: options.quorum,
                                   checkpointInterval: options.checkpointInterval)
        asim.messageInterval = options.messageInterval
        asim.membershipMonitor = MembershipMonitor()
        let sim = asim.sim
        sim.testName = filterPattern
        let nodes = sim.startCluster(nodes: n)
        guard sim.run(until: { $0.everyoneSeesEveryoneAlive }, timeout: .seconds(10)) != nil else {
            XCTFail("\(asim.report("\(n) nodes did not converge", test: filterPattern))", file: file, line: line)
            return nil
        }
        let specs = ring(count: n * perNode)
        for (k, spec) in specs.enumerated() {
            let host = nodes[k / perNode]
            do { try asim.start(spec, on: host, via: host) } catch {
                XCTFail("seed \(seed): start \(spec.name) on \(host): \(error)", file: file, line: line)
                return nil
            }
        }
        guard sim.run(until: { _ in asim.isSettled }, timeout: .seconds(10), resolution: .milliseconds(10)) != nil else {
            XCTFail("\(asim.report("the ring of \(specs.count) agents did not start", test: filterPattern))", file: file, line: line)
            return nil
        }
        let agents = specs.map(\.name)
        var switchedOff: String?
        var quarantined: String?
        let steps = timeline(options, seed: seed, nodes: nodes, agents: agents)
        let start = sim.now
        for (at, step) in steps {
            if start + at > sim.now { sim.run(for: (start + at).since(sim.now)) }
            switch step {
            case let .fault(fault):
                sim.apply(fault)
            case let .crashAgent(agent):
                asim.crashAgent(agent)
            case let .killSwitch(agent):
                switchedOff = agent
                if options.killSwitchOnOneNode {
                    let up = sim.nodeNames.filter { sim.process($0) == .running }
                    let via = up[Int(rng.next() % UInt64(max(up.count, 1)))]
                    asim.killSwitch(agent, epoch: 1, on: [via])
                } else {
                    asim.killSwitch(agent, epoch: 1)
                }
            case let .quarantine(agent):
                quarantined = agent
                asim.quarantine(agent, epoch: 2)
            }
        }
        sim.run(for: start + options.duration > sim.now ? (start + options.duration).since(sim.now) : .zero)
        sim.heal()
        sim.resumeAll()
        if let quarantined {
            // Every node hears the quarantine before the release (a reboot may have taken it from the disk).
            sim.run(for: .seconds(3))
            asim.release(quarantined, epoch: 3)
        }
        if options.rebootAtEnd {
            for node in sim.nodeNames where sim.process(node) != .running { sim.restart(node) }
        }
        let settle = sim.run(until: { _ in asim.isSettled }, timeout: .seconds(60), resolution: .milliseconds(10))
        // Quiesce: no more checkpoints or messages, let the last acknowledgements land, and check it stays settled.
        asim.checkpointInterval = nil
        asim.messageInterval = nil
        sim.run(for: options.quiescence)
        checkEveryStep(asim, file: file, line: line)
        checkMessages(asim, file: file, line: line)
        return Run(asim: asim, agents: agents, switchedOff: switchedOff, quarantined: quarantined, settle: settle,
                   faults: steps.count)
    }

    // MARK: Checks

    /// (e): what the monitors saw at every step of the history.
    private func checkEveryStep(_ asim: AgentSimulation, file: StaticString = #filePath, line: UInt = #line) {
        let broken = asim.violations + (asim.membershipMonitor?.violations ?? [])
        if !broken.isEmpty {
            XCTFail("\(asim.report("\(broken.count) properties broken during the run, first: \(broken[0])", test: filterPattern))",
                    file: file, line: line)
        }
        if asim.sim.codecFailures > 0 || !asim.sim.anomalies.isEmpty {
            XCTFail("\(asim.report("codec failures or core anomalies", test: filterPattern))", file: file, line: line)
        }
    }

    /// (f): no accepted message vanished (`violations` holds the per-step half).
    private func checkMessages(_ asim: AgentSimulation, file: StaticString = #filePath, line: UInt = #line) {
        let cutoff = asim.sim.now + (.zero - Outbox.giveUpAfter - .seconds(1))
        let lost = asim.ledger.lost(acceptedBy: cutoff)
        if !lost.isEmpty {
            XCTFail("\(asim.report("\(lost.count) accepted messages neither delivered nor failed: \(lost.prefix(10))", test: filterPattern))",
                    file: file, line: line)
        }
    }

    /// (a): settled, and every lost agent is lost for want of a live relaunch guardian.
    private func checkSettled(_ run: Run, file: StaticString = #filePath, line: UInt = #line) {
        let asim = run.asim
        // On a lossy network a settled cluster may hold a passing suspicion at the last instant: it must clear again.
        let stays = asim.isSettled || asim.sim.run(until: { _ in asim.isSettled }, timeout: .seconds(10),
                                                  resolution: .milliseconds(10)) != nil
        guard run.settle != nil, stays else {
            // A lost verdict tying the host's own write was once the cause (see AgentRegistryTests).
            let known = Self.lostVerdictTies(asim)
            let headline = known.isEmpty ? "agents not settled 60 s after the heal"
                : "lost verdict ties the host's own write (\(known.joined(separator: ", "))); agents not settled 60 s after the heal"
            XCTFail("\(asim.report(headline, test: filterPattern))", file: file, line: line)
            return
        }
        expectNoAnomalies(asim.sim, file: file, line: line)
        guard let reference = asim.sim.upNodes.first.flatMap(asim.registry) else { return }
        for agent in run.agents {
            guard let record = reference.records[agent] else {
                XCTFail("\(asim.report("\(agent) has no record", test: filterPattern))", file: file, line: line)
                continue
            }
            if record.state == .lost || record.state == .stopped {
                let live = reference.guardians(of: agent).filter {
                    $0.spec.policy.relaunches && $0.state.wantsProcess && reference.hostIsLive($0)
                }
                if !live.isEmpty {
                    XCTFail("\(asim.report("\(agent) stays \(record.state.rawValue) although \(live.map(\.name)) guard it", test: filterPattern))",
                            file: file, line: line)
                }
            }
            if record.state == .killed && agent != run.switchedOff {
                XCTFail("\(asim.report("\(agent) is killed but the kill-switch hit \(run.switchedOff ?? "nothing")", test: filterPattern))",
                        file: file, line: line)
            }
        }
    }

    /// Agents some running node holds as `lost` and another as a live state, at
    /// the same generation, host, version and writer: records `supersedes` cannot order.
    private static func lostVerdictTies(_ asim: AgentSimulation) -> [String] {
        let registries = asim.sim.upNodes.compactMap(asim.registry)
        var ties: Set<String> = []
        for a in registries {
            for b in registries {
                for (name, x) in a.records {
                    guard let y = b.records[name], x.state == .lost, y.state != .lost, x.generation == y.generation,
                          x.host == y.host, x.version == y.version, x.updatedBy == y.updatedBy else { continue }
                    ties.insert(name)
                }
            }
        }
        return ties.sorted()
    }

    private struct DecisionTally {
        var decisions = 0
        /// Other nodes that shared the decider's alive view and record of the agent.
        var sharing = 0
        var agreeing = 0
        /// Shared the membership view but counted different free slots (they knew different records).
        var capacityDiffers = 0
        var disagreements: [String] = []
        /// Two nodes relaunched one agent to one generation although they saw the same alive members.
        var sameViewDuplicates: [String] = []

        mutating func add(_ other: DecisionTally) {
            decisions += other.decisions
            sharing += other.sharing
            agreeing += other.agreeing
            capacityDiffers += other.capacityDiffers
            disagreements += other.disagreements
            sameViewDuplicates += other.sameViewDuplicates
        }
    }

    private static func aliveView(_ registry: AgentRegistry) -> [String] {
        registry.view.values.filter { $0.status == .alive }.map { "\($0.id)" }.sorted()
    }

    private static func candidates(_ registry: AgentRegistry, agent: String, excluding: Set<String>) -> [String] {
        registry.view.values.filter { $0.status == .alive && !excluding.contains($0.id.name) }.map { member in
            let hosted = registry.records.values.filter {
                $0.host == member.id.name && $0.hostUID == member.id.uid && $0.state.wantsProcess && $0.name != agent
            }.count
            return "\(member.id.name):\(Int(member.meta.capacity) - hosted > 0)"
        }.sorted()
    }

    /// (c): nodes sharing the decider's view pick the decider.
    private func tallyDecisions(_ asim: AgentSimulation) -> DecisionTally {
        var tally = DecisionTally()
        var byTarget: [String: [RelaunchDecision]] = [:]
        for decision in asim.decisions {
            tally.decisions += 1
            let agent = decision.record.name
            let excluding: Set<String> = decision.previous.state == .stopped ? [] : [decision.previous.host]
            guard let decider = decision.registries[decision.node] else { continue }
            let view = Self.aliveView(decider)
            let slots = Self.candidates(decider, agent: agent, excluding: excluding)
            byTarget["\(agent)/\(decision.record.generation)", default: []].append(decision)
            for (node, registry) in decision.registries.sorted(by: { $0.key < $1.key }) where node != decision.node {
                guard Self.aliveView(registry) == view, let record = registry.records[agent],
                      record.generation == decision.previous.generation, record.host == decision.previous.host else { continue }
                tally.sharing += 1
                if Self.candidates(registry, agent: agent, excluding: excluding) != slots {
                    tally.capacityDiffers += 1
                    continue
                }
                let target = registry.placementTarget(for: agent, excluding: excluding)
                if target == decision.node {
                    tally.agreeing += 1
                } else {
                    tally.disagreements.append("\(decision); \(node), sharing its view, picks \(target ?? "nothing")")
                }
            }
        }
        for (_, group) in byTarget.sorted(by: { $0.key < $1.key }) where Set(group.map(\.node)).count > 1 {
            let views = group.map { $0.registries[$0.node].map(Self.aliveView) ?? [] }
            if Set(views).count < views.count {
                tally.sameViewDuplicates.append(group.map(\.description).joined(separator: " | "))
            }
        }
        return tally
    }

    /// (b): spawns that started from a checkpoint older than one acknowledged before them,
    /// and agents whose final copy holds less than the acknowledged counter.
    private func checkpointLosses(_ asim: AgentSimulation) -> (spawns: [AgentSpawn], finals: [String]) {
        let spawns = asim.spawns.filter { $0.counter < $0.acknowledgedBefore }
        var finals: [String] = []
        for process in asim.allProcesses {
            let acknowledged = asim.acknowledgedCounter[process.agent] ?? 0
            if process.counter < acknowledged {
                finals.append("\(process) < acknowledged \(acknowledged)")
            }
        }
        return (spawns, finals)
    }

    /// (d): the switched-off agent runs nowhere and is killed on every node.
    private func checkKillSwitch(_ run: Run, file: StaticString = #filePath, line: UInt = #line) {
        guard let agent = run.switchedOff else { return }
        let asim = run.asim
        let copies = asim.copies(of: agent)
        if !copies.isEmpty {
            XCTFail("\(asim.report("kill-switched \(agent) still runs: \(copies)", test: filterPattern))", file: file, line: line)
        }
        for node in asim.sim.upNodes {
            let record = asim.records(seenBy: node)[agent]
            if record?.state != .killed || asim.registry(node)?.tombstone(of: agent) == nil {
                XCTFail("\(asim.report("\(node) has kill-switched \(agent) as \(record.map { "\($0.state.rawValue) gen \($0.generation)" } ?? "nothing")", test: filterPattern))",
                        file: file, line: line)
            }
        }
    }

    // MARK: Properties

    func testAfterRandomFaultsEveryAgentRunsExactlyOnceAndEveryNodeAgreesOnItsRecord() {
        var settle = Figures()
        var tally = DecisionTally()
        var duplicates = 0, pausedDuplicates = 0, lostSpawns = 0, lostFinals = 0, acks = 0, spawns = 0, switched = 0
        let seeds = SimSeeds.list(default: 10, base: 100)
        for seed in seeds {
            guard let run = run(seed: seed, Options(kind: .mixed, killSwitch: seed % 2 == 0)) else { continue }
            settle.add(run.settle)
            checkSettled(run)
            checkKillSwitch(run)
            let t = tallyDecisions(run.asim)
            tally.add(t)
            for problem in t.disagreements + t.sameViewDuplicates {
                XCTFail("seed \(seed): \(problem)\nreplay: KITH_SIM_SEED=\(seed) swift test --filter \(filterPattern)")
            }
            let losses = checkpointLosses(run.asim)
            lostSpawns += losses.spawns.count
            lostFinals += losses.finals.count
            duplicates += run.asim.duplicates.count
            pausedDuplicates += run.asim.duplicates.filter { $0.onPausedNodes > 0 }.count
            acks += run.asim.acknowledgements.count
            spawns += run.asim.spawns.count
            switched += run.switchedOff == nil ? 0 : 1
        }
        figure("mixed faults, \(seeds.count) seeds: agents settled \(settle.description) after the heal")
        figure("relaunch decisions: \(tally.decisions); nodes sharing the decider's view: \(tally.sharing), agreeing \(tally.agreeing), "
               + "same members but other free slots (different records known) \(tally.capacityDiffers)")
        figure("split brain: \(duplicates) spawns left two or more copies (\(pausedDuplicates) of them beside a copy frozen on a paused node); \(lostSpawns) of \(spawns) spawns started "
               + "behind an acknowledged checkpoint; \(lostFinals) final copies hold less than their agent's acknowledged counter "
               + "(\(acks) acknowledgements); kill-switch thrown in \(switched) runs, held in all")
    }

    func testAnAcknowledgedCheckpointSurvivesTheLossOfNodes() {
        var tally = DecisionTally()
        var latency = Figures()
        var acks = 0, spawns = 0
        let seeds = SimSeeds.list(default: 10, base: 200)
        for seed in seeds {
            guard let run = run(seed: seed, Options(kind: .crashes, rebootAtEnd: false)) else { continue }
            checkSettled(run)
            let t = tallyDecisions(run.asim)
            tally.add(t)
            for problem in t.disagreements + t.sameViewDuplicates {
                XCTFail("seed \(seed): \(problem)\nreplay: KITH_SIM_SEED=\(seed) swift test --filter \(filterPattern)")
            }
            let losses = checkpointLosses(run.asim)
            for spawn in losses.spawns {
                XCTFail("\(run.asim.report("acknowledged checkpoint lost: \(spawn)", test: filterPattern))")
            }
            for final in losses.finals {
                XCTFail("\(run.asim.report("acknowledged checkpoint lost: \(final)", test: filterPattern))")
            }
            XCTAssertTrue(run.asim.duplicates.isEmpty, "seed \(seed): duplicates without partitions: \(run.asim.duplicates.prefix(3))")
            acks += run.asim.acknowledgements.count
            spawns += run.asim.spawns.count
            for d in relaunchLatencies(run.asim) { latency.add(d) }
        }
        figure("node crashes only, \(seeds.count) seeds: \(acks) acknowledged checkpoints, \(spawns) spawns, none behind an acknowledgement")
        figure("crash to relaunched copy connected: \(latency.description)")
        if let slowest = latency.values.max() {
            XCTAssertLessThan(slowest, .seconds(2), "a crashed node's agent took \(Simulation.format(slowest)) to run elsewhere")
        }
        figure("relaunch decisions: \(tally.decisions); peers sharing the view \(tally.sharing), agreeing \(tally.agreeing), "
               + "other free slots \(tally.capacityDiffers)")
    }

    /// (f) strictly: node crashes and a lossy network, then a quiet spell past
    /// the give-up time, so every accepted message has settled: delivered to
    /// some copy of its receiver, or failed by id. Both happens when the
    /// receiver's acknowledgement was lost or its node crashed right after the
    /// delivery and no copy ran again within 10 s: counted, not failed.
    func testEveryAcceptedMessageIsDeliveredOnceInOrderOrFailedByID() {
        var accepted = 0, delivered = 0, failed = 0, gone = 0, both = 0
        for seed in SimSeeds.list(default: 10, base: 700) {
            var options = Options(kind: .crashes, rebootAtEnd: false, messageInterval: .milliseconds(50),
                                  quiescence: Outbox.giveUpAfter + .seconds(2))
            options.network = .lossy(0.02, latency: .milliseconds(1), jitter: .milliseconds(2))
            guard let run = run(seed: seed, options) else { continue }
            let ledger = run.asim.ledger
            XCTAssertEqual(ledger.lost(acceptedBy: run.asim.sim.now), [], "seed \(seed): accepted, then lost")
            both += ledger.deliveredAndFailed.count
            accepted += ledger.accepted.count
            delivered += ledger.delivered.count
            failed += ledger.failed.count
            gone += ledger.goneWithSender.count
        }
        XCTAssertGreaterThan(delivered, 0)
        figure("messages every 50 ms under node crashes and 2% loss: \(accepted) accepted, \(delivered) delivered, "
               + "\(failed) failed by id (\(both) of them delivered to a copy first), \(gone) gone with their sender's node, none lost")
    }

    /// Regression of AgentRegistryTests.testARelaunchTargetThatRebootedAfterTheCheckpointStillSpawnsWithTheAcknowledgedCheckpoint:
    /// a node rebooted after a checkpoint now receives every checkpoint when it reappears.
    func testAnAcknowledgedCheckpointSurvivesCrashesAndReboots() {
        var acks = 0, spawns = 0, lost = 0
        var failing: [UInt64] = []
        let seeds = SimSeeds.list(default: 8, base: 300)
        for seed in seeds {
            guard let run = run(seed: seed, Options(kind: .crashesAndReboots, checkpointInterval: .seconds(2))) else { continue }
            checkSettled(run)
            let losses = checkpointLosses(run.asim)
            if !losses.spawns.isEmpty {
                failing.append(seed)
                lost += losses.spawns.count
                XCTFail("\(run.asim.report("acknowledged checkpoint lost: \(losses.spawns[0]) (and \(losses.spawns.count - 1) more)", test: filterPattern))")
            }
            acks += run.asim.acknowledgements.count
            spawns += run.asim.spawns.count
        }
        figure("node crashes and reboots, \(seeds.count) seeds: \(acks) acknowledged checkpoints, \(spawns) spawns, "
               + "\(lost) started behind an acknowledged checkpoint (seeds \(failing))")
    }

    func testTheKillSwitchAlwaysWins() {
        var resisted = 0
        let seeds = SimSeeds.list(default: 8, base: 400)
        for seed in seeds {
            let oneNode = seed % 2 == 1
            guard let run = run(seed: seed, Options(kind: .mixed, killSwitch: true, killSwitchOnOneNode: oneNode)) else { continue }
            checkKillSwitch(run)
            checkSettled(run)
            resisted += run.asim.log.filter { $0.text.hasPrefix("resistance") }.count
        }
        figure("kill-switch in the middle of mixed faults (command to every node, or to one and gossip), \(seeds.count) seeds: "
               + "held every time; \(resisted) resistance attempts refused")
    }

    /// No node that holds an agent's quarantine spawns it, on any schedule of
    /// faults (checked at every spawn and after every input by the monitors);
    /// once released, the cluster settles with it running again.
    func testNoQuarantinedAgentIsEverRelaunched() {
        var frozen = 0
        let seeds = SimSeeds.list(default: 40, base: 20_000)
        for seed in seeds {
            var options = Options(kind: seed % 3 == 0 ? .crashesAndReboots : .mixed, duration: .seconds(6),
                                  killSwitch: seed % 5 == 0, small: true, quiescence: .seconds(1))
            options.quarantine = true
            guard let run = run(seed: seed, options), let agent = run.quarantined else { continue }
            checkSettled(run)
            frozen += run.asim.log.filter { $0.text.contains("freezes \(agent)@") }.count
        }
        XCTAssertGreaterThan(frozen, seeds.count / 2, "the quarantined agent was seldom frozen: the property is not exercised")
        figure("quarantine in the middle of node crashes, reboots and partitions, \(seeds.count) seeds: "
               + "\(frozen) processes frozen, no quarantined agent spawned by a node that held its quarantine")
    }

    func testAMajorityQuorumDoesNotRelaunchOnAMinoritySide() {
        var duplicates = 0, pausedDuplicates = 0, minorityRelaunches = 0
        let seeds = SimSeeds.list(default: 5, base: 500)
        for seed in seeds {
            // A majority relaunches only once its view has held for the quorum grace: quiesce longer than that.
            guard let run = run(seed: seed, Options(kind: .mixed, quorum: .majority, quiescence: .seconds(12))) else { continue }
            checkSettled(run)
            duplicates += run.asim.duplicates.count
            pausedDuplicates += run.asim.duplicates.filter { $0.onPausedNodes > 0 }.count
            for decision in run.asim.decisions {
                guard let registry = decision.registries[decision.node] else { continue }
                let known = registry.view.values.filter { $0.status != .left }.count
                let live = registry.view.values.filter { $0.status == .alive }.count
                if live * 2 <= known {
                    minorityRelaunches += 1
                    XCTFail("seed \(seed): \(decision) while seeing \(live) of \(known)\n"
                            + "replay: KITH_SIM_SEED=\(seed) swift test --filter \(filterPattern)")
                }
            }
        }
        figure("majority quorum, mixed faults, \(seeds.count) seeds: \(minorityRelaunches) minority relaunches; "
               + "\(duplicates) spawns still left two copies, \(pausedDuplicates) beside a frozen copy on a paused node, the rest beside "
               + "a minority's copy that runs on while the majority relaunches it")
    }

    /// Many small runs of the daemon's `NodeCore` on a lossy network, every
    /// message through the codec, every property checked at every step.
    func testFiveHundredSeedsKeepEveryAgentAndMembershipPropertyAtEveryStep() {
        let seeds = SimSeeds.list(default: 500, base: 10_000)
        var spawns = 0, switched = 0, events = 0, tally = AgentSimulation.MessageTally(), virtual = Duration.zero
        let seconds = wallSeconds {
            for seed in seeds {
                var options = Options(kind: .mixed, duration: .seconds(5), killSwitch: seed % 2 == 0,
                                      killSwitchOnOneNode: seed % 4 == 0, small: true, quiescence: .seconds(1))
                options.network = .lossy(0.01, latency: .milliseconds(1), jitter: .milliseconds(2))
                options.checkpointInterval = .seconds(1)
                guard let run = run(seed: seed, options) else { continue }
                checkSettled(run)
                checkKillSwitch(run)
                spawns += run.asim.spawns.count
                switched += run.switchedOff == nil ? 0 : 1
                events += run.asim.sim.eventsProcessed
                virtual += run.asim.sim.now.since(.zero)
                let m = run.asim.messages
                tally.sent += m.sent; tally.accepted += m.accepted; tally.refused += m.refused
                tally.delivered += m.delivered; tally.failedLater += m.failedLater
            }
        }
        figure("\(seeds.count) seeds run (NodeCore, codec round trips, 1% loss, properties at every step) in \(Int(seconds)) s: "
               + "\(Int(virtual.seconds)) s of virtual time, \(events) events, \(spawns) spawns, kill-switch in \(switched) runs; agent messages \(tally.sent) sent, "
               + "\(tally.accepted) accepted, \(tally.refused) refused, \(tally.delivered) delivered, \(tally.failedLater) failed later")
    }

    func testTheSameSeedReplaysTheSameAgentHistory() {
        for seed in SimSeeds.list(default: 2, base: 600) {
            guard let a = run(seed: seed, Options(kind: .mixed, killSwitch: true)),
                  let b = run(seed: seed, Options(kind: .mixed, killSwitch: true)) else { continue }
            XCTAssertEqual(a.asim.digest, b.asim.digest, "seed \(seed): agent histories differ")
            XCTAssertEqual(a.asim.log, b.asim.log, "seed \(seed): agent logs differ")
            XCTAssertEqual(a.asim.sim.historyDigest, b.asim.sim.historyDigest, "seed \(seed): membership histories differ")
            XCTAssertEqual(a.asim.spawns, b.asim.spawns)
            figure("seed \(seed): \(a.asim.spawns.count) spawns, \(a.asim.log.count) log lines, digest \(String(a.asim.digest, radix: 16))")
        }
    }

    /// For each node crash: how long until every agent that ran there runs (connected) elsewhere.
    private func relaunchLatencies(_ asim: AgentSimulation) -> [Duration] {
        var result: [Duration] = []
        for fault in asim.sim.faults where fault.action.hasPrefix("crash ") {
            let node = String(fault.action.dropFirst("crash ".count))
            let victims = asim.log.filter { $0.time == fault.time && $0.node == node && $0.text.contains("dies with its node") }
            for victim in victims {
                let agent = String(victim.text.prefix { $0 != " " })
                if let back = asim.connections.first(where: { $0.time >= fault.time && $0.agent == agent && $0.node != node }) {
                    result.append(back.time.since(fault.time))
                }
            }
        }
        return result
    }
}
