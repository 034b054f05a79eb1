import Foundation
import Glibc
import KithCore
import XCTest

/// Labs whose daemons each run in their own network namespace (`lab up
/// --netns`): partitions are real packet drops (nftables in each namespace)
/// and loss is emulated in the kernel, so the daemons learn of them only as
/// real hosts would. Needs root and `ip netns`; skipped otherwise. Every test
/// ends with `lab down` and checks that no namespace, interface or nft table
/// of its lab is left, also when it fails.
final class NetnsLabTests: LabTestCase {
    private static let nodes = (1...5).map { "n\($0)" }
    private static let agentNames = nodes.map { "\($0)-a1" }
    /// kith- namespaces, interfaces and root nft tables that existed before the test (other labs').
    private var before: Set<String> = []
    private var checking = false
    private var tornDown = false

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard geteuid() == 0 else {
            throw XCTSkip("netns labs need root (network namespaces, veths, nftables); run the tests as root to include them")
        }
        guard let ip = NetnsProbe.tool("ip"), let list = try? Subprocess.run(ip, ["netns", "list"]), list.status == 0 else {
            throw XCTSkip("'ip netns' is unavailable here (install iproute2; needs CAP_SYS_ADMIN)")
        }
        guard NetnsProbe.tool("nft") != nil else { throw XCTSkip("nft is not installed (apt-get install -y nftables)") }
        before = NetnsProbe.kithObjects()
        checking = true
    }

    override func tearDown() {
        if checking && !tornDown { tearDownLab() }
        super.tearDown()
    }

    /// `lab down`, then every kith- object new since the test began is a leak:
    /// reported as a failure and removed, so one failed run never poisons the next.
    private func tearDownLab() {
        tornDown = true
        if let down = try? lab.kithctl(["lab", "down"]), down.status != 0 {
            XCTFail("kithctl lab down exited \(down.status): \(down.stderr)")
        }
        let leaked = NetnsProbe.kithObjects().subtracting(before)
        if !leaked.isEmpty {
            XCTFail("left behind after lab down: \(leaked.sorted().joined(separator: ", "))")
            NetnsProbe.remove(leaked)
        }
        if let record = lab.recordText() { XCTFail("lab.json still there after lab down: \(record)") }
    }

    private func startLab(_ extra: [String] = []) throws {
        try lab.start(nodes: 5, labArguments: ["--netns"] + LabHarness.agentRing(perNode: 1, policy: "relaunch") + extra)
        let network = try netns()
        XCTAssertEqual(network["hosts"]?.arrayValue?.count, 5)
        for host in network["hosts"]?.arrayValue ?? [] {
            let namespace = host["namespace"]?.stringValue ?? "?"
            XCTAssertTrue(NetnsProbe.namespaces().contains(namespace), "namespace \(namespace) exists")
            XCTAssertEqual(lab.node(host["node"]?.stringValue ?? "?").control, "\(host["address"]?.stringValue ?? "?"):7400")
        }
        try waitForSingleCopies("the lab starts")
    }

    /// The "netns" entry of lab.json.
    private func netns() throws -> JSON {
        guard let data = FileManager.default.contents(atPath: lab.directory + "/lab.json"),
              let netns = try JSON.parse(bytes: data)["netns"] else { throw HarnessError("lab.json has no netns entry") }
        return netns
    }

    private func namespace(of node: String) throws -> String {
        guard let host = try netns()["hosts"]?.arrayValue?.first(where: { $0["node"]?.stringValue == node }),
              let namespace = host["namespace"]?.stringValue else { throw HarnessError("no namespace recorded for \(node)") }
        return namespace
    }

    /// Every agent runs exactly once: all nodes alive, every node holds the same
    /// running record of it, and one live process runs as it, with that pid.
    private func singleCopies() -> Bool {
        guard lab.allSee(Self.nodes, as: "alive") else { return false }
        let processes = lab.liveAgentProcesses()
        let views = Self.nodes.map { lab.agents(seenBy: $0) }
        return Self.agentNames.allSatisfy { name in
            let records = views.map { $0?[name] }
            guard let first = records.first ?? nil, first["state"]?.stringValue == "running",
                  records.allSatisfy({ $0.map(LabHarness.summary) == LabHarness.summary(first) }) else { return false }
            return processes[name] == [Int32(first["pid"]?.intValue ?? -1)]
        }
    }

    private func waitForSingleCopies(_ when: String, timeout: Double = LabHarness.timeout) throws {
        do {
            try lab.waitUntil("exactly one running copy of every agent, agreed by every node, after \(when)", timeout: timeout) { singleCopies() }
        } catch {
            let views = Self.nodes.map { node in
                "\(node): " + (lab.agents(seenBy: node).map { $0.sorted { $0.key < $1.key }.map { "\($0.key) \(LabHarness.summary($0.value))" }.joined(separator: ", ") } ?? "no answer")
            }
            throw HarnessError("\(error)\nregistries:\n\(views.joined(separator: "\n"))\nprocesses: \(lab.liveAgentProcesses())")
        }
    }

    /// Whether every observer in `side` sees every agent running on a host of `side`, and they agree.
    private func sideRunsEveryAgent(_ side: [String]) -> Bool {
        let views = side.map { lab.agents(seenBy: $0) }
        return Self.agentNames.allSatisfy { name in
            let records = views.map { $0?[name] }
            guard let first = records.first ?? nil, first["state"]?.stringValue == "running",
                  side.contains(first["node"]?.stringValue ?? ""),
                  records.allSatisfy({ $0.map(LabHarness.summary) == LabHarness.summary(first) }) else { return false }
            return true
        }
    }

    func testPartitionTwoThreeRelaunchesOnBothSidesThenHealsToOneCopy() throws {
        try startLab()
        let left = ["n1", "n2"], right = ["n3", "n4", "n5"]

        let cut = Date()
        let partition = try lab.kithctl(["lab", "partition", "n1,n2", "/", "n3,n4,n5"])
        XCTAssertEqual(partition.status, 0, partition.stderr)
        var detected: [String: Double] = [:]
        try lab.waitUntil("each side declares the other dead") {
            for observer in Self.nodes where detected[observer] == nil {
                let others = left.contains(observer) ? right : left
                if let states = lab.states(seenBy: observer), others.allSatisfy({ states[$0] == "dead" }) {
                    detected[observer] = Date().timeIntervalSince(cut)
                }
            }
            return detected.count == Self.nodes.count
        }
        XCTAssertTrue(lab.allSee(left, as: "alive", observers: left), "n1, n2 still see each other alive")
        XCTAssertTrue(lab.allSee(right, as: "alive", observers: right), "n3, n4, n5 still see each other alive")

        // Quorum any: each side relaunches what it lost, so both sides run all five agents.
        try lab.waitUntil("each side runs every agent on its own hosts, two processes per agent") {
            let processes = lab.liveAgentProcesses()
            return sideRunsEveryAgent(left) && sideRunsEveryAgent(right) && Self.agentNames.allSatisfy { processes[$0]?.count == 2 }
        }
        let relaunched = Date().timeIntervalSince(cut)

        // The cut is in the kernel: the partition rules dropped packets.
        let dropped = try Self.nodes.map { try NetnsProbe.droppedPackets(in: namespace(of: $0), table: "kith") }.reduce(0, +)
        XCTAssertGreaterThan(dropped, 0, "nftables dropped packets between the groups")
        let status = try lab.kithctl(["lab", "status"])
        XCTAssertTrue(status.stdout.contains("Partitioned") && status.stdout.contains("kith-"), status.stdout)

        let healed = Date()
        let heal = try lab.kithctl(["lab", "heal"])
        XCTAssertEqual(heal.status, 0, heal.stderr)
        for node in Self.nodes {
            XCTAssertFalse(NetnsProbe.tables(in: try namespace(of: node)).contains("kith"), "no partition table left in \(node)'s namespace")
        }
        try lab.waitUntil("every node sees every node alive again after the heal", timeout: 15) { lab.allSee(Self.nodes, as: "alive") }
        let merged = Date().timeIntervalSince(healed)
        try waitForSingleCopies("the heal")
        let single = Date().timeIntervalSince(healed)
        // And it stays that way.
        usleep(1_500_000)
        XCTAssertTrue(singleCopies(), "still exactly one copy of every agent 1.5 s later")

        let detection = detected.sorted { $0.key < $1.key }.map { String(format: "%@ %.2f s", $0.key, $0.value) }.joined(separator: ", ")
        print(String(format: "netns 2|3 cut: dead on the other side at %@ (max %.2f s); every agent on both sides after %.2f s;"
                     + " %d packets dropped; after heal all alive in %.2f s, one copy of every agent in %.2f s",
                     detection, detected.values.max() ?? 0, relaunched, dropped, merged, single))
        XCTAssertLessThanOrEqual(merged, 5, "re-merge within 5 s of the heal")

        tearDownLab()
    }

    func testFivePercentLossForTwentySecondsKillsNobody() throws {
        try startLab()
        let netem = try lab.kithctl(["lab", "netem", "all", "--loss", "5"])
        XCTAssertEqual(netem.status, 0, netem.stderr)
        let impairments = try netns()["impairments"]?.arrayValue ?? []
        XCTAssertEqual(impairments.count, 5, "netem recorded on every node")
        let mechanism = impairments.first?["mechanism"]?.stringValue ?? "?"

        // Twenty seconds of loss; watch every view meanwhile.
        let start = Date()
        var notAlive: [String] = []
        while Date().timeIntervalSince(start) < 20 {
            for observer in Self.nodes {
                for (member, state) in lab.states(seenBy: observer) ?? [:] where state == "dead" || state == "left" {
                    notAlive.append("\(observer) saw \(member) \(state)")
                }
            }
            usleep(500_000)
        }
        var dropped = 0
        for node in Self.nodes {
            let namespace = try namespace(of: node)
            dropped += mechanism == "nftables" ? NetnsProbe.droppedPackets(in: namespace, table: "kith-loss") : NetnsProbe.netemDrops(in: namespace)
        }
        XCTAssertGreaterThan(dropped, 0, "the loss dropped packets")

        let clear = try lab.kithctl(["lab", "netem", "all", "--clear"])
        XCTAssertEqual(clear.status, 0, clear.stderr)
        XCTAssertEqual(try netns()["impairments"]?.arrayValue?.count, 0)
        for node in Self.nodes {
            let namespace = try namespace(of: node)
            XCTAssertFalse(NetnsProbe.tables(in: namespace).contains("kith-loss"), "no loss table left in \(node)'s namespace")
            XCTAssertFalse(NetnsProbe.hasNetem(in: namespace), "no netem qdisc left in \(node)'s namespace")
        }

        // Ground truth: no daemon ever logged a member dead, in its log or its event log.
        var deaths: [String] = []
        var suspicions = 0
        for node in Self.nodes {
            let changes = lab.daemonEvents(on: node, "member_changed")
            suspicions += changes.filter { $0["state"]?.stringValue == "suspect" }.count
            deaths += changes.filter { $0["state"]?.stringValue == "dead" }.map { "\(node): \($0.serialized())" }
            let events = String(decoding: FileManager.default.contents(atPath: "\(lab.directory)/\(node)/events.jsonl") ?? Data(), as: UTF8.self)
            for line in events.split(separator: "\n") where line.contains("member_changed") {
                if let record = try? JSON.parse(String(line)), record["event"]?.stringValue == "member_changed",
                   record["state"]?.stringValue == "dead" {
                    deaths.append("\(node) events.jsonl: \(line)")
                }
            }
        }
        print("netns 5% loss (\(mechanism)) on every node for 20 s: \(dropped) packets dropped, \(suspicions) suspicions, \(deaths.count) deaths")
        XCTAssertTrue(notAlive.isEmpty, "no view ever showed a member dead: \(notAlive.prefix(10))")
        XCTAssertTrue(deaths.isEmpty, "no member recorded dead: \(deaths.prefix(10).joined(separator: "\n"))")
        try waitForSingleCopies("20 s of loss", timeout: 10)

        tearDownLab()
    }

    func testMajorityQuorumOnlyTheThreeNodeSideRelaunches() throws {
        try startLab(["--relaunch-quorum", "majority"])
        let status = try lab.kithctl(["lab", "status"])
        XCTAssertTrue(status.stdout.contains("Relaunch quorum: majority"), status.stdout)
        let recorded = try JSON.parse(lab.recordText() ?? "{}")
        XCTAssertEqual(recorded["relaunch_quorum"]?.stringValue, "majority", "lab.json keeps the quorum for lab start")
        XCTAssertTrue(lab.recordText()?.contains("--relaunch-quorum") == true, "every kithd's recorded args carry the quorum")
        let left = ["n1", "n2"], right = ["n3", "n4", "n5"]
        let leftAgents = left.map { "\($0)-a1" }, rightAgents = right.map { "\($0)-a1" }

        let cut = Date()
        let partition = try lab.kithctl(["lab", "partition", "n1,n2", "/", "n3,n4,n5"])
        XCTAssertEqual(partition.status, 0, partition.stderr)
        try lab.waitUntil("each side declares the other dead") {
            Self.nodes.allSatisfy { observer in
                let others = left.contains(observer) ? right : left
                return lab.states(seenBy: observer).map { states in others.allSatisfy { states[$0] == "dead" } } ?? false
            }
        }
        // Majority: n3, n4, n5 relaunch n1-a1 and n2-a1 on their hosts; the two-node side, seeing no
        // majority, fenced its own copies first: one copy of each agent at a time.
        var overlaps: [String] = []
        try lab.waitUntil("the three-node side runs every agent, each once") {
            let processes = lab.liveAgentProcesses()
            for name in leftAgents where (processes[name]?.count ?? 0) > 1 { overlaps.append("\(name): \(processes[name]!)") }
            return sideRunsEveryAgent(right) && leftAgents.allSatisfy { processes[$0]?.count == 1 }
        }
        XCTAssertTrue(overlaps.isEmpty, "never two copies of a two-node side's agent: \(overlaps.prefix(5))")
        let relaunched = Date().timeIntervalSince(cut)
        // Minority: n1, n2 relaunch nothing; the three side's agents stay one process each, never on n1 or n2.
        var violations: [String] = []
        let watch = Date()
        while Date().timeIntervalSince(watch) < 3 {
            let processes = lab.liveAgentProcesses()
            for name in rightAgents where processes[name]?.count != 1 {
                violations.append("\(name) has \(processes[name]?.count ?? 0) processes")
            }
            for observer in left {
                for name in rightAgents {
                    if let record = lab.agents(seenBy: observer)?[name], record["state"]?.stringValue == "running",
                       left.contains(record["node"]?.stringValue ?? "") {
                        violations.append("\(observer) runs \(name): \(LabHarness.summary(record))")
                    }
                }
            }
            usleep(250_000)
        }
        XCTAssertTrue(violations.isEmpty, "the two-node side relaunched nothing: \(violations.prefix(10))")

        let healed = Date()
        let heal = try lab.kithctl(["lab", "heal"])
        XCTAssertEqual(heal.status, 0, heal.stderr)
        try lab.waitUntil("every node sees every node alive again after the heal", timeout: 15) { lab.allSee(Self.nodes, as: "alive") }
        let merged = Date().timeIntervalSince(healed)
        try waitForSingleCopies("the heal")
        let single = Date().timeIntervalSince(healed)
        print(String(format: "netns 2|3 cut, quorum majority: two-node side's agents relaunched by the three-node side after %.2f s;"
                     + " after heal all alive in %.2f s, one copy of every agent in %.2f s", relaunched, merged, single))
        XCTAssertLessThanOrEqual(merged, 5, "re-merge within 5 s of the heal")

        tearDownLab()
    }

    func testFiftyMillisecondDelayKillsNobodyAndClears() throws {
        try startLab()
        let netem = try lab.kithctl(["lab", "netem", "all", "--delay", "50"])
        XCTAssertEqual(netem.status, 0, netem.stderr)
        let impairments = try netns()["impairments"]?.arrayValue ?? []
        XCTAssertEqual(impairments.count, 5, "delay recorded on every node")
        let mechanism = impairments.first?["mechanism"]?.stringValue ?? "?"
        XCTAssertTrue(["tc-netem", "kithd"].contains(mechanism), "mechanism \(mechanism)")
        XCTAssertTrue(impairments.allSatisfy { $0["delay_ms"]?.intValue == 50 && $0["mechanism"]?.stringValue == mechanism })
        /// Each node's delay faults (from its control `status`) as "ms to peers".
        func delayFaults(_ node: String) -> [String] {
            (lab.status(of: node)?["faults"]?.arrayValue ?? []).filter { $0["effect"]?.stringValue == "delay" }.map { fault in
                "\(fault["ms"]?.intValue ?? -1) ms to \((fault["peers"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ","))"
            }
        }
        for node in Self.nodes {
            if mechanism == "kithd" {
                XCTAssertTrue(netem.stdout.contains("kithd"), netem.stdout)
                let others = Self.nodes.filter { $0 != node }.joined(separator: ",")
                XCTAssertEqual(delayFaults(node), ["50 ms to \(others)"], "\(node)'s status shows the delay fault")
            } else {
                XCTAssertTrue(NetnsProbe.netemOutput(in: try namespace(of: node)).contains("delay 50"), "netem qdisc on \(node)")
            }
        }

        // Ten seconds of delay: nobody is declared dead.
        let start = Date()
        var notAlive: [String] = []
        while Date().timeIntervalSince(start) < 10 {
            for observer in Self.nodes {
                for (member, state) in lab.states(seenBy: observer) ?? [:] where state == "dead" || state == "left" {
                    notAlive.append("\(observer) saw \(member) \(state)")
                }
            }
            usleep(500_000)
        }
        XCTAssertTrue(notAlive.isEmpty, "no view ever showed a member dead: \(notAlive.prefix(10))")
        let delayed = Self.nodes.compactMap { lab.status(of: $0)?["frames_delayed"]?.intValue }.reduce(0, +)
        if mechanism == "kithd" { XCTAssertGreaterThan(delayed, 0, "kithd delayed frames") }

        let clear = try lab.kithctl(["lab", "netem", "all", "--clear"])
        XCTAssertEqual(clear.status, 0, clear.stderr)
        XCTAssertEqual(try netns()["impairments"]?.arrayValue?.count, 0)
        for node in Self.nodes {
            XCTAssertEqual(delayFaults(node), [], "no delay fault left on \(node)")
            XCTAssertFalse(NetnsProbe.hasNetem(in: try namespace(of: node)), "no netem qdisc left in \(node)'s namespace")
        }
        print("netns delay 50 ms (\(mechanism)) on every node for 10 s: \(delayed) frames delayed by kithd, nobody dead")
        try waitForSingleCopies("10 s of delay", timeout: 10)

        tearDownLab()
    }
}

private extension LabHarness {
    /// lab.json's text while the lab is still recorded, nil once it is gone.
    func recordText() -> String? {
        FileManager.default.contents(atPath: directory + "/lab.json").map { String(decoding: $0, as: UTF8.self) }
    }
}

/// The host's network state, read directly (never through kithctl), to check what a lab left behind.
enum NetnsProbe {
    static func tool(_ name: String) -> String? {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }

    static func namespaces() -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? [])
    }

    /// Every kith- namespace and root-namespace interface, and every root nft table named kith*.
    static func kithObjects() -> Set<String> {
        let namespaces = namespaces().filter { $0.hasPrefix("kith-") }.map { "namespace \($0)" }
        let links = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? [])
            .filter { $0.hasPrefix("kith-") }.map { "interface \($0)" }
        let tables = rootTables().filter { $0.hasPrefix("kith") }.map { "nft table \($0)" }
        return Set(namespaces + links + tables)
    }

    /// nft table names in the root namespace.
    static func rootTables() -> [String] {
        guard let nft = tool("nft"), let list = try? Subprocess.run(nft, ["list", "tables"]) else { return [] }
        return list.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
    }

    /// nft table names in `namespace`.
    static func tables(in namespace: String) -> [String] {
        guard let ip = tool("ip"), let nft = tool("nft"),
              let list = try? Subprocess.run(ip, ["netns", "exec", namespace, nft, "list", "tables"]) else { return [] }
        return list.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
    }

    /// The sum of the `counter packets N` of table `table` in `namespace`.
    static func droppedPackets(in namespace: String, table: String) -> Int {
        guard let ip = tool("ip"), let nft = tool("nft"),
              let list = try? Subprocess.run(ip, ["netns", "exec", namespace, nft, "list", "table", "inet", table]) else { return 0 }
        let words = list.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        return zip(words, words.dropFirst()).filter { $0.0 == "packets" }.compactMap { Int($0.1) }.reduce(0, +)
    }

    static func netemOutput(in namespace: String) -> String {
        guard let tc = tool("tc"), let show = try? Subprocess.run(tc, ["-n", namespace, "-s", "qdisc", "show"]) else { return "" }
        return show.stdout
    }

    static func hasNetem(in namespace: String) -> Bool { netemOutput(in: namespace).contains("netem") }

    /// Packets netem dropped in `namespace` ("dropped N" in `tc -s qdisc show`).
    static func netemDrops(in namespace: String) -> Int {
        let words = netemOutput(in: namespace).split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," })
        return zip(words, words.dropFirst()).filter { $0.0 == "dropped" }.compactMap { Int($0.1) }.reduce(0, +)
    }

    /// Deletes leaked objects (after a failed `lab down`), so later runs start clean.
    static func remove(_ objects: Set<String>) {
        guard let ip = tool("ip") else { return }
        for object in objects.sorted() {
            let fields = object.split(separator: " ").map(String.init)
            switch fields.first {
            case "namespace": _ = try? Subprocess.run(ip, ["netns", "del", fields[1]])
            case "interface": _ = try? Subprocess.run(ip, ["link", "del", fields[1]])
            case "nft": if let nft = tool("nft") { _ = try? Subprocess.run(nft, ["delete", "table", "inet", fields[2]]) }
            default: break
            }
        }
    }
}
