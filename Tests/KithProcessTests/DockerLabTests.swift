import Foundation
import Glibc
import KithCore
import XCTest

/// Container labs (`lab up --docker`): five containers of the Kith image on
/// their own bridge network, one reference agent per node, driven through
/// `kithctl lab` and the engine as an operator would. Run alone with
/// `KITH_DOCKER_TESTS=1 swift test --filter DockerLabTests` as root with an
/// engine and the image (`scripts/docker-engine.sh start`,
/// `scripts/docker-image.sh`; scripts/test.sh does both); skipped without
/// KITH_DOCKER_TESTS=1, failed with it when the engine or image is missing.
/// Every test ends with `lab down` and checks that no container, network or
/// volume of its project and no namespace of its lab is left, also when it fails.
final class DockerLabTests: LabTestCase {
    private static let nodes = (1...5).map { "n\($0)" }
    private static let agentNames = nodes.map { "\($0)-a1" }
    private var volumesBefore: Set<String> = []
    private var project: String?
    private var checking = false
    private var tornDown = false

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard ProcessInfo.processInfo.environment["KITH_DOCKER_TESTS"] == "1" else {
            throw XCTSkip("container lab tests run with KITH_DOCKER_TESTS=1 (scripts/test.sh sets it when it has an engine and the image)")
        }
        // Asked for (KITH_DOCKER_TESTS=1), a lab that cannot run is a failure, not a skip.
        guard geteuid() == 0 else { throw HarnessError("container labs need root (docker, ip netns attach, nftables)") }
        guard DockerProbe.run(["info", "--format", "{{.ServerVersion}}"]).status == 0 else {
            throw HarnessError("no Docker engine answers (scripts/docker-engine.sh start)")
        }
        guard DockerProbe.run(["image", "inspect", "kith:dev"]).status == 0 else {
            throw HarnessError("no kith:dev image (scripts/docker-image.sh builds it)")
        }
        volumesBefore = DockerProbe.volumes()
        checking = true
    }

    override func tearDown() {
        if checking && !tornDown { tearDownLab() }
        super.tearDown()
    }

    /// `lab down`, then nothing of the project may be left: no container, network, volume or namespace.
    private func tearDownLab() {
        tornDown = true
        let project = self.project ?? (try? setup())?["project"]?.stringValue
        if let down = try? lab.kithctl(["lab", "down"]), down.status != 0 {
            XCTFail("kithctl lab down exited \(down.status): \(down.stdout) \(down.stderr)")
        }
        guard let project else { return }
        let left = DockerProbe.objects(project: project)
        XCTAssertEqual(left, [], "left behind after lab down")
        XCTAssertEqual(DockerProbe.volumes().subtracting(volumesBefore), [], "volumes left behind after lab down")
        XCTAssertEqual(NetnsProbe.namespaces().filter { $0.hasPrefix(project + "-") }, [], "namespaces left behind after lab down")
        XCTAssertFalse(FileManager.default.fileExists(atPath: lab.directory + "/lab.json"), "lab.json removed")
        XCTAssertEqual(DockerProbe.run(["image", "inspect", "kith:dev"]).status, 0, "the image stays")
        if !left.isEmpty { DockerProbe.remove(project: project) }
    }

    /// docker.json of the lab.
    private func setup() throws -> JSON {
        guard let data = FileManager.default.contents(atPath: lab.directory + "/docker.json") else { throw HarnessError("no docker.json") }
        return try JSON.parse(bytes: data)
    }

    private func container(of node: String) throws -> String {
        guard let name = try setup()["containers"]?[node]?.stringValue else { throw HarnessError("no container recorded for \(node)") }
        return name
    }

    private func namespace(of node: String) throws -> String { try container(of: node) }

    /// Starts the five-container lab with one agent per node and waits until every agent runs once; returns the seconds `lab up` took.
    @discardableResult
    private func startLab(_ extra: [String] = []) throws -> Double {
        let started = Date()
        let up = try slowKithctl(["lab", "up", "--docker", "--nodes", "5", "--agents", "1", "--policy", "relaunch", "--dir", lab.directory] + extra)
        let seconds = Date().timeIntervalSince(started)
        project = try? setup()["project"]?.stringValue
        XCTAssertEqual(up.status, 0, "lab up --docker: \(up.stdout)\n\(up.stderr)")
        guard up.status == 0 else { throw HarnessError("lab up --docker failed") }
        try lab.waitUntil("all 5 containers see each other alive") { lab.allSee(Self.nodes, as: "alive") }
        try waitForSingleCopies("the lab starts")
        return seconds
    }

    /// kithctl as `lab.kithctl` runs it, for commands that may take longer than its 30 s
    /// (`lab up --docker`, a scenario run); then the harness reads the record again.
    private func slowKithctl(_ arguments: [String]) throws -> Finished {
        let result = try Subprocess.run(Binaries.kithctl, arguments, environment: ["XDG_CONFIG_HOME": lab.configHome, "KITH_OPERATOR_KEY": ""],
                                        timeout: 180)
        _ = try? lab.kithctl(["lab", "status"])
        return result
    }

    /// Every agent runs exactly once: all nodes alive, every node holds the same running
    /// record of it, and one live process runs as it, in the container of the node the record names.
    private func singleCopies() -> Bool {
        guard lab.allSee(Self.nodes, as: "alive") else { return false }
        let processes = lab.liveAgentProcessesByNode()
        let views = Self.nodes.map { lab.agents(seenBy: $0) }
        return Self.agentNames.allSatisfy { name in
            let records = views.map { $0?[name] }
            guard let first = records.first ?? nil, first["state"]?.stringValue == "running",
                  records.allSatisfy({ $0.map(LabHarness.summary) == LabHarness.summary(first) }) else { return false }
            return processes[name] == [first["node"]?.stringValue ?? "?"]
        }
    }

    private func waitForSingleCopies(_ when: String, timeout: Double = LabHarness.timeout) throws {
        do {
            try lab.waitUntil("exactly one running copy of every agent, agreed by every node, after \(when)", timeout: timeout) { singleCopies() }
        } catch {
            let views = Self.nodes.map { node in
                "\(node): " + (lab.agents(seenBy: node).map { $0.sorted { $0.key < $1.key }.map { "\($0.key) \(LabHarness.summary($0.value))" }.joined(separator: ", ") } ?? "no answer")
            }
            throw HarnessError("\(error)\nregistries:\n\(views.joined(separator: "\n"))\nprocesses: \(lab.liveAgentProcessesByNode())")
        }
    }

    func testFiveContainersConvergeAnswerClusterCommandsAndAKilledContainersAgentRunsElsewhereOnce() throws {
        let upSeconds = try startLab()

        // The record and status: one running, healthy container per node at its address.
        let status = try lab.kithctl(["lab", "status", "--json"])
        XCTAssertEqual(status.status, 0, status.stderr)
        let nodes = try JSON.parse(status.stdout)["nodes"]?.arrayValue ?? []
        XCTAssertEqual(nodes.count, 5)
        for node in nodes {
            let name = node["name"]?.stringValue ?? "?"
            XCTAssertEqual(node["container"]?.stringValue, try container(of: name))
            XCTAssertEqual(node["state"]?.stringValue, "running")
            XCTAssertEqual(node["control"]?.stringValue, "\(node["address"]?.stringValue ?? "?"):7400")
        }
        try lab.waitUntil("docker reports every container healthy (kith-entrypoint health: /readyz)", timeout: 30) {
            Self.nodes.allSatisfy { node in (try? container(of: node)).map { DockerProbe.health($0) == "healthy" } ?? false }
        }
        // kithd runs as kith without capabilities, the container has no NET_ADMIN unless asked.
        let inspect = DockerProbe.run(["inspect", "--format", "{{.HostConfig.CapAdd}}", try container(of: "n1")])
        XCTAssertFalse(inspect.stdout.contains("NET_ADMIN"), inspect.stdout)
        let user = DockerProbe.run(["exec", try container(of: "n1"), "sh", "-c", "grep -E '^(Uid|CapEff)' /proc/$(pidof kithd)/status"])
        XCTAssertTrue(user.stdout.contains("10001") && user.stdout.contains("0000000000000000"), "kithd as kith, no capabilities: \(user.stdout)")

        // Cluster commands from the host, through the containers' control addresses.
        let members = try lab.kithctl(on: "n1", ["members"])
        XCTAssertEqual(members.status, 0, members.stderr)
        XCTAssertEqual(Self.nodes.filter { members.stdout.contains($0) }.count, 5, members.stdout)
        let agents = try lab.kithctl(on: "n2", ["agents"])
        XCTAssertEqual(agents.status, 0, agents.stderr)
        XCTAssertTrue(Self.agentNames.allSatisfy(agents.stdout.contains), agents.stdout)
        let events = try lab.kithctl(on: "n1", ["events", "--limit", "5"])
        XCTAssertEqual(events.status, 0, events.stderr)

        // docker kill n3: its agent runs in another container within 1.5 s, exactly once.
        let cut = Date()
        let kill = try lab.kithctl(["lab", "kill", "n3"])
        XCTAssertEqual(kill.status, 0, kill.stderr)
        XCTAssertTrue(kill.stdout.contains("docker kill"), kill.stdout)
        let survivors = ["n1", "n2", "n4", "n5"]
        var detected: Double?
        let record = try lab.waitForAgent("n3-a1", seenBy: survivors, "every survivor sees n3-a1 running elsewhere") {
            if detected == nil, survivors.contains(where: { lab.states(seenBy: $0)?["n3"] == "dead" }) { detected = Date().timeIntervalSince(cut) }
            return $0["state"] == "running" && $0["node"] != "n3"
        }
        let relaunched = Date().timeIntervalSince(cut)
        XCTAssertEqual(record["generation"], 2, "n3-a1 is relaunched exactly once")
        XCTAssertEqual(DockerProbe.state(try container(of: "n3")), "exited")
        try lab.waitUntil("one live n3-a1 process, in the container of \(record["node"]?.stringValue ?? "?")") {
            lab.liveAgentProcessesByNode()["n3-a1"] == [record["node"]?.stringValue ?? "?"]
        }
        XCTAssertLessThanOrEqual(relaunched, 1.5, "relaunched in another container within 1.5 s of docker kill")

        // lab start: the same container, a new boot of n3, rejoins.
        let start = try lab.kithctl(["lab", "start", "n3"])
        XCTAssertEqual(start.status, 0, start.stderr)
        try lab.waitUntil("n3 is alive again everywhere") { lab.allSee(Self.nodes, as: "alive") }
        try lab.waitUntil("the restarted n3 learns that n3-a1 moved") { lab.agents(seenBy: "n3")?["n3-a1"]?["generation"] == 2 }

        // Signed operator commands fan out to every container: kithd's own partition fault, heal, the kill-switch.
        let fault = try lab.kithctl(on: "n1", ["partition", "n1", "/", "n5", "--for", "30s"])
        XCTAssertEqual(fault.status, 0, fault.stderr)
        XCTAssertEqual(try lab.kithctl(on: "n1", ["heal"]).status, 0)
        let killSwitch = try lab.kithctl(on: "n2", ["kill-switch", "n4-a1", "--reason", "container lab test"])
        XCTAssertEqual(killSwitch.status, 0, killSwitch.stderr)
        try lab.waitForAgent("n4-a1", seenBy: Self.nodes, "every container records n4-a1 killed") { $0["state"] == "killed" }
        try lab.waitUntil("no n4-a1 process is left in any container") { lab.liveAgentProcessesByNode()["n4-a1"] == nil }

        // The fault list and the history checker over every container's verified log.
        let faults = try lab.kithctl(on: "n1", ["faults"])
        XCTAssertEqual(faults.status, 0, faults.stdout + faults.stderr)
        // `docker kill` leaves no record of when n3's processes died (the checker ends them at the first dead
        // verdict about n3): asserted here is a verdict over every log (0 or 1), never an error (2).
        let check = try lab.kithctl(["check", "--lab", lab.directory, "--json"])
        XCTAssertTrue([0, 1].contains(check.status), check.stdout + check.stderr)
        let verdict = try JSON.parse(check.stdout)
        XCTAssertEqual((verdict["logs"]?.arrayValue ?? []).filter { $0["ok"] == true }.count, 5, "every container's log verifies")
        XCTAssertEqual(verdict["rules"]?.arrayValue?.count, 6, "every rule judged")
        print(String(format: "docker lab: 5 containers up with 5 agents in %.1f s; docker kill n3: a survivor saw it dead after %.2f s,"
                     + " n3-a1 running in another container after %.2f s", upSeconds, detected ?? -1, relaunched))
        tearDownLab()
    }

    func testPausedContainerIsDeclaredDeadItsAgentMovesAndItsStaleCopyIsFencedAfterUnpause() throws {
        try startLab()
        let cut = Date()
        let pause = try lab.kithctl(["lab", "pause", "n3"])
        XCTAssertEqual(pause.status, 0, pause.stderr)
        XCTAssertEqual(DockerProbe.state(try container(of: "n3")), "paused")
        try lab.waitUntil("the others declare the frozen n3 dead") {
            ["n1", "n2", "n4", "n5"].allSatisfy { lab.states(seenBy: $0)?["n3"] == "dead" }
        }
        let detected = Date().timeIntervalSince(cut)
        let relaunched = try lab.waitForAgent("n3-a1", seenBy: ["n1", "n2", "n4", "n5"], "the others relaunch n3-a1 elsewhere") {
            $0["state"] == "running" && $0["node"] != "n3" && $0["generation"] == 2
        }
        let moved = Date().timeIntervalSince(cut)
        // The frozen copy still exists (the freezer stops, it does not kill).
        XCTAssertEqual(Set(lab.liveAgentProcessesByNode()["n3-a1"] ?? []), ["n3", relaunched["node"]?.stringValue ?? "?"])

        let resume = try lab.kithctl(["lab", "resume", "n3"])
        XCTAssertEqual(resume.status, 0, resume.stderr)
        try lab.waitUntil("n3 is alive again everywhere") { lab.allSee(["n3"], as: "alive") }
        try lab.waitForAgent("n3-a1", seenBy: Self.nodes, "n3 too agrees n3-a1 runs elsewhere") {
            $0["pid"] == relaunched["pid"] && $0["generation"] == 2
        }
        try waitForSingleCopies("the unpause")
        let stops = lab.daemonEvents(on: "n3", "agent_stopping").filter { $0["agent"] == "n3-a1" }
        XCTAssertTrue(stops.contains { $0["reason"]?.stringValue?.contains("duplicate") == true },
                      "n3 stops its stale copy as a duplicate: \(stops.map { $0.serialized() })")
        print(String(format: "docker lab: docker pause n3: all others saw it dead after %.2f s, n3-a1 moved after %.2f s;"
                     + " after unpause one copy", detected, moved))
        tearDownLab()
    }

    func testPartitionTwoThreeWithNftablesInsideContainersRelaunchesOnBothSidesAndReMerges() throws {
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
        try lab.waitUntil("each side runs every agent in its own containers, two processes per agent") {
            let processes = lab.liveAgentProcessesByNode()
            return Self.agentNames.allSatisfy { name in
                let hosts = processes[name] ?? []
                return hosts.count == 2 && hosts.contains(where: left.contains) && hosts.contains(where: right.contains)
            }
        }
        let relaunched = Date().timeIntervalSince(cut)
        // The cut is in the containers' kernels: the rules dropped packets there.
        let dropped = try Self.nodes.map { try NetnsProbe.droppedPackets(in: namespace(of: $0), table: "kith") }.reduce(0, +)
        XCTAssertGreaterThan(dropped, 0, "nftables in the containers dropped packets between the groups")
        let status = try lab.kithctl(["lab", "status"])
        XCTAssertTrue(status.stdout.contains("Partitioned") && status.stdout.contains("n1,n2 / n3,n4,n5"), status.stdout)

        let healed = Date()
        let heal = try lab.kithctl(["lab", "heal"])
        XCTAssertEqual(heal.status, 0, heal.stderr)
        try lab.waitUntil("every node sees every node alive again after the heal", timeout: 15) { lab.allSee(Self.nodes, as: "alive") }
        let merged = Date().timeIntervalSince(healed)
        try waitForSingleCopies("the heal")
        let single = Date().timeIntervalSince(healed)
        print(String(format: "docker lab 2|3 cut (nftables in the containers): the 3-node side buries the other after %.2f s, the 2-node"
                     + " side after %.2f s; every agent on both sides after %.2f s; %d packets dropped; after heal all alive in %.2f s,"
                     + " one copy of every agent in %.2f s", right.compactMap { detected[$0] }.max() ?? -1,
                     left.compactMap { detected[$0] }.max() ?? -1, relaunched, dropped, merged, single))
        XCTAssertLessThanOrEqual(single, 5, "re-merged with one copy of every agent within 5 s of the heal")

        // netem on a container's eth0 (or its fallbacks where the kernel has no netem), recorded, shown and cleared.
        let netem = try lab.kithctl(["lab", "netem", "n2", "--loss", "5"])
        XCTAssertEqual(netem.status, 0, netem.stderr)
        XCTAssertTrue(try lab.kithctl(["lab", "status"]).stdout.contains("netem n2: loss 5%"))
        let clear = try lab.kithctl(["lab", "netem", "all", "--clear"])
        XCTAssertEqual(clear.status, 0, clear.stderr)
        XCTAssertFalse(NetnsProbe.tables(in: try namespace(of: "n2")).contains("kith-loss"), "no loss table left in n2's container")
        XCTAssertFalse(NetnsProbe.hasNetem(in: try namespace(of: "n2")), "no netem qdisc left in n2's container")
        tearDownLab()
    }

    func testNodeCrashScenarioRunsAgainstTheContainerLabAndWritesItsReport() throws {
        try startLab()
        // scenarios/node-crash.json on this cluster: its timeline, the lab's nodes instead of a lab of its own.
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scenarios/node-crash.json").path
        let text = String(decoding: try XCTUnwrap(FileManager.default.contents(atPath: source)), as: UTF8.self)
            .split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }.joined(separator: "\n")
        guard case .object(var scenario) = try JSON.parse(text) else { throw HarnessError("node-crash.json is not an object") }
        scenario["cluster"] = ["nodes": .array(lab.nodes.map { .string($0.control) })]
        scenario["control"] = nil
        scenario["repeats"] = 1
        scenario["timeline"] = .array((scenario["timeline"]?.arrayValue ?? []).map { step in
            // The crash scenario's agents are nI-a2 too; this lab runs one agent per node.
            guard case .object(var object) = step else { return step }
            if let targets = object["targets"]?.arrayValue { object["targets"] = .array(targets.map { .string(($0.stringValue ?? "").replacingOccurrences(of: "-a2", with: "-a1")) }) }
            if let target = object["target"]?.stringValue { object["target"] = .string(target.replacingOccurrences(of: "-a2", with: "-a1")) }
            return .object(object)
        })
        let file = lab.directory + "/node-crash-docker.json"
        try JSON.object(scenario).serialized(pretty: true).write(toFile: file, atomically: true, encoding: .utf8)
        let report = lab.directory + "/report"
        let run = try slowKithctl(["run", file, "--report", report])
        XCTAssertEqual(run.status, 0, "kithctl run: \(run.stdout)\n\(run.stderr)")
        for name in ["report.json", "report.md", "timeline.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: report + "/" + name), "\(name) written: \(run.stdout)")
        }
        let json = try JSON.parse(bytes: try XCTUnwrap(FileManager.default.contents(atPath: report + "/report.json")))
        XCTAssertFalse(json.serialized().isEmpty)
        print("docker lab: scenario node-crash (existing cluster) ran; report in \(report)")
        tearDownLab()
    }

    func testPythonAgentsRunInTheContainersAndLabDownAfterACrashRemovesTheProjectFromItsLabelsAlone() throws {
        let up = try slowKithctl(["lab", "up", "--docker", "--nodes", "3", "--agents", "1",
                                  "--kith-agent", "/usr/local/lib/kith/agents/guardian.py", "--dir", lab.directory])
        project = try? setup()["project"]?.stringValue
        XCTAssertEqual(up.status, 0, up.stderr)
        let project = try XCTUnwrap(project)
        XCTAssertEqual(DockerProbe.objects(project: project).filter { $0.hasPrefix("container") }.count, 3)
        // guardian.py on the image's python3, one per container, each logging in its node's data directory.
        let agents = lab.agentProcesses()
        XCTAssertEqual(agents.count, 3, "three agent processes: \(agents)")
        for pid in agents.keys {
            let command = String(decoding: FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data(), as: UTF8.self)
            XCTAssertTrue(command.contains("python3") && command.contains("guardian.py"), command)
        }
        // As if kithctl died before writing the rest: only docker.json is left, no lab.json, no compose file.
        try FileManager.default.removeItem(atPath: lab.directory + "/lab.json")
        try FileManager.default.removeItem(atPath: try XCTUnwrap(setup()["compose_file"]?.stringValue))
        let down = try lab.kithctl(["lab", "down"])
        XCTAssertEqual(down.status, 0, "\(down.stdout)\n\(down.stderr)")
        XCTAssertEqual(DockerProbe.objects(project: project), [], "every container and network of the project removed by its label")
        XCTAssertEqual(NetnsProbe.namespaces().filter { $0.hasPrefix(project + "-") }, [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: lab.directory + "/docker.json"))
        tearDownLab()
    }
}

private extension LabHarness {
    /// Agent name → the node of each live process running as it (by its log path, DIR/NODE/agents/NAME.log,
    /// the same inside a container, whose data directory is mounted at the host path), sorted.
    func liveAgentProcessesByNode() -> [String: [String]] {
        var byAgent: [String: [String]] = [:]
        for (pid, log) in agentProcesses() where Pids.isAlive(pid) {
            let url = URL(fileURLWithPath: log.replacingOccurrences(of: " (deleted)", with: ""))
            let node = url.deletingLastPathComponent().deletingLastPathComponent().lastPathComponent
            byAgent[url.deletingPathExtension().lastPathComponent, default: []].append(node)
        }
        return byAgent.mapValues { $0.sorted() }
    }
}

/// The engine's state, read through the docker CLI directly (never through kithctl).
enum DockerProbe {
    static func run(_ arguments: [String]) -> Finished {
        let candidates: [String] = ["/usr/bin/docker", "/usr/local/bin/docker"]
        guard let docker = candidates.first(where: { access($0, X_OK) == 0 }),
              let result = try? Subprocess.run(docker, arguments) else { return Finished(status: 127, stdout: "", stderr: "no docker") }
        return result
    }

    static func lines(_ arguments: [String]) -> [String] {
        run(arguments).stdout.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    static func volumes() -> Set<String> { Set(lines(["volume", "ls", "--quiet"])) }

    static func state(_ container: String) -> String {
        run(["inspect", "--format", "{{.State.Status}}", container]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func health(_ container: String) -> String {
        run(["inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", container]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every container, network and volume labelled with compose project `project`.
    static func objects(project: String) -> [String] {
        let label = "label=com.docker.compose.project=\(project)"
        return lines(["ps", "--all", "--filter", label, "--format", "container {{.Names}}"])
            + lines(["network", "ls", "--filter", label, "--format", "network {{.Name}}"])
            + lines(["volume", "ls", "--filter", label, "--format", "volume {{.Name}}"])
    }

    /// Removes what a failed test left, so one failure never poisons the next run.
    static func remove(project: String) {
        let label = "label=com.docker.compose.project=\(project)"
        for container in lines(["ps", "--all", "--quiet", "--filter", label]) { _ = run(["rm", "--force", "--volumes", container]) }
        for network in lines(["network", "ls", "--quiet", "--filter", label]) { _ = run(["network", "rm", network]) }
    }
}
