import Foundation
import Glibc
import KithCore
import XCTest

/// The dashboard at `/` in a real browser (headless Chromium driven over the DevTools protocol by
/// `Tests/fixtures/cdp.py`): a lab's node dies and the open page, never reloaded, shows it dead, its
/// agent running elsewhere, and the masking guardian's report as a masking incident. Screenshots go to
/// `.build/artifacts/`.
final class DashboardTests: LabTestCase {
    private static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    private static let cdp = packageRoot.appendingPathComponent("Tests/fixtures/cdp.py").path
    private static let artifacts = packageRoot.appendingPathComponent(".build/artifacts").path

    private var browserPid: Int32?
    private var profile: String?

    override func tearDown() {
        if let browserPid {
            // SIGTERM lets Chromium take its own helper processes down; SIGKILL if it lingers.
            kill(browserPid, SIGTERM)
            if Subprocess.waitForExit(browserPid, timeout: 10) == nil {
                kill(browserPid, SIGKILL)
                _ = Subprocess.waitForExit(browserPid, timeout: 5)
            }
        }
        if let profile { try? FileManager.default.removeItem(atPath: profile) }
        super.tearDown()
    }

    /// What the page shows, read from its DOM (the `data-` attributes each row carries).
    private static let pageState = """
        JSON.stringify({
          reloadMarker: window.kithTestMarker || null,
          nodes: Object.fromEntries([...document.querySelectorAll("tr[data-node]")].map(r => [r.dataset.node, r.dataset.state])),
          agents: Object.fromEntries([...document.querySelectorAll("tr[data-agent]")].map(r => [r.dataset.agent,
                    {host: r.dataset.host, state: r.dataset.state, generation: Number(r.dataset.generation)}])),
          incidents: [...document.querySelectorAll("[data-incident=masking]")].map(d => d.dataset.reporter + ">" + d.dataset.peer),
          tombstones: Object.fromEntries([...document.querySelectorAll("tr[data-tombstone]")].map(r => [r.dataset.tombstone, r.dataset.kind])),
          faults: [...document.querySelectorAll("tr[data-fault]")].map(r => r.dataset.fault).sort(),
          views: [...document.querySelectorAll("span[data-observer]")].reduce((all, c) =>
                   ({...all, [c.dataset.observer]: {...(all[c.dataset.observer] || {}), [c.dataset.subject]: c.dataset.state}}), {}),
          maskingReports: [...document.querySelectorAll("tr[data-masking=true]")].map(r => r.dataset.report),
          endpoints: Object.fromEntries([...document.querySelectorAll("[data-endpoint]")].map(s => [s.dataset.endpoint, s.dataset.ok]))
        })
        """

    private func browser(_ port: UInt16, _ command: String, _ argument: String) throws -> Finished {
        try Subprocess.run("/usr/bin/env", ["python3", Self.cdp, String(port), command, argument])
    }

    private func state(_ port: UInt16) -> JSON? {
        guard let result = try? browser(port, "eval", Self.pageState), result.status == 0,
              let text = try? JSON.parse(result.stdout).stringValue else { return nil }
        return try? JSON.parse(text)
    }

    private func waitForPage(_ port: UInt16, _ what: String, _ condition: (JSON) -> Bool) throws -> JSON {
        let deadline = Date().addingTimeInterval(LabHarness.timeout)
        var last: JSON?
        while Date() < deadline {
            if let page = state(port) {
                last = page
                if condition(page) { return page }
            }
            usleep(300_000)
        }
        throw HarnessError("the dashboard never showed \(what); last seen: \(last?.serialized() ?? "nothing")")
    }

    /// Headless Chromium with its debugger on a free port (returned), ended in tearDown.
    private func launch(_ chromium: String) throws -> UInt16 {
        let port = try freeLoopbackPort()
        let profile = lab.directory + "/chromium"
        self.profile = profile
        browserPid = try Subprocess.spawn(chromium, [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=\(port)", "--remote-allow-origins=*", "--user-data-dir=\(profile)",
            "--window-size=1400,1000", "about:blank",
        ], stdout: lab.directory + "/chromium.out", stderr: lab.directory + "/chromium.err")
        try lab.waitUntil("Chromium's debugger answers") { (try? browser(port, "eval", "1"))?.status == 0 }
        return port
    }

    /// Every node of the lab restarted with `--http-token-file` holding `token` (kept in lab.json's args,
    /// as an operator's own deployment would have it); the file's path.
    private func guardEveryEndpoint(with token: String) throws -> String {
        let path = lab.directory + "/http-token"
        try (token + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let names = lab.nodes.map(\.name)
        for name in names {
            XCTAssertEqual(try lab.kithctl(["lab", "stop", name]).status, 0)
            XCTAssertNotNil(lab.waitForExit(name, timeout: 10), "\(name) stops")
        }
        let recordPath = lab.directory + "/lab.json"
        let record = try JSON.parse(bytes: try XCTUnwrap(FileManager.default.contents(atPath: recordPath)))
        guard case .object(var object) = record, case .array(let nodes)? = object["nodes"] else { throw HarnessError("odd lab.json") }
        object["nodes"] = .array(nodes.map { node in
            guard case .object(var entry) = node, case .array(let args)? = entry["args"] else { return node }
            entry["args"] = .array(args + ["--http-token-file", .string(path)])
            return .object(entry)
        })
        try (JSON.object(object).serialized(pretty: true) + "\n").write(toFile: recordPath, atomically: true, encoding: .utf8)
        for name in names {
            let started = try lab.kithctl(["lab", "start", name])
            XCTAssertEqual(started.status, 0, started.stderr)
        }
        try lab.waitUntil("every node is back and sees the others alive") { lab.allSee(names, as: "alive") }
        return path
    }

    private func screenshot(_ port: UInt16, _ name: String) throws {
        try FileManager.default.createDirectory(atPath: Self.artifacts, withIntermediateDirectories: true)
        let result = try browser(port, "screenshot", Self.artifacts + "/" + name)
        XCTAssertEqual(result.status, 0, result.stderr)
    }

    func testTheOpenPageShowsANodeDyingItsAgentMovingAndAMaskingIncidentWithoutAReload() throws {
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: FileManager.default.isExecutableFile) else {
            print("SKIP testTheOpenPageShowsANodeDyingItsAgentMovingAndAMaskingIncidentWithoutAReload: no chromium (scripts/deps.sh --tests installs it)")
            return
        }
        // n1-a1 guards n2-a1 and masks: once n2 dies it tells its daemon that n2-a1 is healthy.
        try lab.start(nodes: 3, labArguments: ["--agents", "1", "--policy", "relaunch-and-mask"])
        let status = try lab.kithctl(["lab", "status", "--json"])
        let n1 = try XCTUnwrap(try JSON.parse(status.stdout).arrayValue?.first { $0["name"] == "n1" }?["http"]?.stringValue)

        let port = try launch(chromium)
        XCTAssertEqual(try browser(port, "navigate", "http://\(n1)/").status, 0)
        let before = try waitForPage(port, "three alive nodes and their running agents") { page in
            page["nodes"] == ["n1": "alive", "n2": "alive", "n3": "alive"]
                && ["n1-a1", "n2-a1", "n3-a1"].allSatisfy { page["agents"]?[$0]?["state"] == "running" }
        }
        XCTAssertEqual(before["agents"]?["n2-a1"]?["host"], "n2")
        XCTAssertEqual(before["incidents"]?.arrayValue?.count, 0, "no masking before anything failed")
        // A reload would drop this; it must still be there at the end.
        XCTAssertEqual(try browser(port, "eval", "window.kithTestMarker = 'kept'").status, 0)
        try screenshot(port, "dashboard-before.png")

        kill(lab.node("n2").pid, SIGKILL)
        let after = try waitForPage(port, "n2 dead, n2-a1 running elsewhere and n1-a1's masking report") { page in
            page["nodes"]?["n2"] == "dead" && page["nodes"]?["n1"] == "alive" && page["nodes"]?["n3"] == "alive"
                && page["agents"]?["n2-a1"]?["state"] == "running" && page["agents"]?["n2-a1"]?["host"] != "n2"
                && page["incidents"]?.arrayValue?.contains("n1-a1>n2-a1") == true
        }
        XCTAssertEqual(after["reloadMarker"], "kept", "the page was not reloaded")
        XCTAssertEqual(after["endpoints"]?["n2"], "false", "n2's own endpoint shows as not answering")
        XCTAssertGreaterThan(after["agents"]?["n2-a1"]?["generation"]?.intValue ?? 0, 1, "the relaunch is a new generation")
        try screenshot(port, "dashboard-after.png")

        // Operator verdicts and faults appear as they are set, still without a reload.
        for command in [["kill-switch", "n3-a1"], ["quarantine", "n1-a1"], ["delay", "n1", "/", "n3", "--ms", "5", "--for", "60s"]] {
            let result = try lab.kithctl(["--node", lab.node("n1").control] + command)
            XCTAssertEqual(result.status, 0, "\(command): \(result.stderr)")
        }
        let verdicts = try waitForPage(port, "the kill-switch, the quarantine and the delay") { page in
            page["tombstones"] == ["n3-a1": "kill_switch", "n1-a1": "quarantine"] && page["faults"] == ["n1", "n3"]
        }
        // n2-a1 guards n3-a1 and masks: it keeps calling the switched-off agent healthy, which n3 recorded.
        _ = try waitForPage(port, "n2-a1's claim about the switched-off n3-a1 as masking") { page in
            page["maskingReports"]?.arrayValue?.contains("n3-a1") == true
        }
        XCTAssertEqual(verdicts["reloadMarker"], "kept")
        try screenshot(port, "dashboard-verdicts.png")

        // A partition between n1 and n3 shows as two views that disagree.
        XCTAssertEqual(try lab.kithctl(["--node", lab.node("n1").control, "partition", "n1", "/", "n3", "--for", "30s"]).status, 0)
        let split = try waitForPage(port, "n1 and n3 each calling the other dead") { page in
            page["views"]?["n1"]?["n3"] == "dead" && page["views"]?["n3"]?["n1"] == "dead"
        }
        XCTAssertEqual(split["views"]?["n1"]?["n1"], "alive")
        XCTAssertEqual(split["nodes"]?["n1"], "split", "one view against the other: no verdict")
        try screenshot(port, "dashboard-partition.png")
    }

    func testWithATokenThePrintedURLCarriesItAndThePageReadsEveryNodeAndItsStreamWithIt() throws {
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: FileManager.default.isExecutableFile) else {
            print("SKIP testWithATokenThePrintedURLCarriesItAndThePageReadsEveryNodeAndItsStreamWithIt: no chromium (scripts/deps.sh --tests installs it)")
            return
        }
        try lab.start(nodes: 2)
        let token = "s3cret&t#k+n/="  // characters a fragment must carry encoded
        _ = try guardEveryEndpoint(with: token)
        let status = try JSON.parse(try lab.kithctl(["lab", "status", "--json"]).stdout).arrayValue ?? []
        let n1 = try XCTUnwrap(status.first { $0["name"] == "n1" }?["http"]?.stringValue)
        let n2 = try XCTUnwrap(status.first { $0["name"] == "n2" }?["http"]?.stringValue)
        for http in [n1, n2] {
            XCTAssertEqual(try HTTPClient.get(http, "/api/v1/members").status, 401, "no token, no data")
            XCTAssertEqual(try HTTPClient.get(http, "/api/v1/members", headers: ["Authorization": "Bearer " + token]).status, 200)
        }

        let printed = try lab.kithctl(["dashboard"], environment: ["KITH_LAB_DIR": lab.directory])
        XCTAssertEqual(printed.status, 0, printed.stderr)
        let url = printed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(url, "http://\(n1)/#token=s3cret%26t%23k%2Bn%2F%3D")

        let port = try launch(chromium)
        XCTAssertEqual(try browser(port, "navigate", url).status, 0)
        let page = try waitForPage(port, "both nodes alive in both views, read with the token") { page in
            page["nodes"] == ["n1": "alive", "n2": "alive"] && page["endpoints"] == ["n1": "true", "n2": "true"]
        }
        XCTAssertEqual(page["views"]?["n2"]?["n1"], "alive", "n2 answered the page across origins")
        let hash = try browser(port, "eval", "location.hash")
        XCTAssertEqual(hash.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "\"\"", "the token is out of the address bar")

        // An event recorded after the page loaded reaches it through each node's stream.
        let halted = try lab.kithctl(["--node", lab.node("n1").control, "halt"])
        XCTAssertEqual(halted.status, 0, halted.stdout + halted.stderr)
        let live = "JSON.stringify([...document.querySelectorAll('tr[data-event=halted]')].map(r => r.children[1].textContent).sort())"
        try lab.waitUntil("the page shows both nodes' halted events") {
            guard let result = try? browser(port, "eval", live), result.status == 0,
                  let text = try? JSON.parse(result.stdout).stringValue else { return false }
            return text == #"["n1","n2"]"#
        }
        try screenshot(port, "dashboard-token.png")
    }

    func testThePageAndTheAPIItReads() throws {
        try lab.start(nodes: 1)
        let status = try lab.kithctl(["lab", "status", "--json"])
        let n1 = try XCTUnwrap(try JSON.parse(status.stdout).arrayValue?.first?["http"]?.stringValue)
        let page = try HTTPClient.get(n1, "/")
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.headers["content-type"], "text/html; charset=utf-8")
        XCTAssertFalse(page.body.contains("src=\"http") || page.body.contains("href=\"http"), "nothing loaded from elsewhere")
        XCTAssertNil(page.headers["access-control-allow-origin"], "only the API is open to other origins")
        for path in ["/api/v1/members", "/api/v1/agents", "/api/v1/status", "/api/v1/events?limit=1"] {
            let reply = try HTTPClient.get(n1, path)
            XCTAssertEqual(reply.status, 200, path)
            XCTAssertEqual(reply.headers["access-control-allow-origin"], "*", path)
        }
        XCTAssertNotNil(try JSON.parse(try HTTPClient.get(n1, "/api/v1/agents").body)["tombstones"]?.arrayValue)
        XCTAssertNotNil(try JSON.parse(try HTTPClient.get(n1, "/api/v1/status").body)["faults"]?.arrayValue)
    }
}
