import Foundation
import Glibc
import KithCore
import XCTest

/// `kithd --http`: the endpoints of a lab's daemons as a monitoring system sees them (probes, Prometheus
/// text checked by promtool, the JSON API, the event stream), a real Prometheus scraping the lab, the
/// bearer token, and readiness failing when the node has not joined or its loop stalled.
final class HTTPEndpointTests: LabTestCase {
    /// Daemons and servers a test started itself (outside the lab record); killed and reaped in tearDown.
    private var extraPids: [Int32] = []

    override func tearDown() {
        for pid in extraPids {
            kill(pid, SIGCONT)
            kill(pid, SIGKILL)
            _ = Subprocess.waitForExit(pid, timeout: 5)
        }
        extraPids.removeAll()
        super.tearDown()
    }

    /// Each node's `http` from `kithctl lab status --json`.
    private func httpAddresses() throws -> [String: String] {
        let status = try lab.kithctl(["lab", "status", "--json"])
        XCTAssertEqual(status.status, 0, status.stderr)
        var addresses: [String: String] = [:]
        for node in try JSON.parse(status.stdout).arrayValue ?? [] {
            if let name = node["name"]?.stringValue, let http = node["http"]?.stringValue { addresses[name] = http }
        }
        return addresses
    }

    func testLabNodesServeProbesMetricsAPIAndTheEventStream() throws {
        try lab.start(nodes: 3)
        let addresses = try httpAddresses()
        XCTAssertEqual(addresses.keys.sorted(), ["n1", "n2", "n3"], "lab status --json gives every node's http")
        XCTAssertEqual(Set(addresses.values).count, 3, "each node has its own port")
        let n1 = try XCTUnwrap(addresses["n1"])

        let health = try HTTPClient.get(n1, "/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.body, "ok\n")
        let ready = try HTTPClient.get(n1, "/readyz")
        XCTAssertEqual(ready.status, 200, ready.body)
        XCTAssertEqual(try JSON.parse(ready.body)["joined"], .bool(true))

        let metrics = try HTTPClient.get(n1, "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertEqual(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertTrue(metrics.body.contains("\nkith_members{state=\"alive\"} 3\n"), metrics.body)
        XCTAssertNotNil(metricValue(metrics.body, "kith_gossip_sent_bytes_total").flatMap { $0 > 0 ? $0 : nil },
                        "gossip bytes are counted")
        try checkWithPromtool(metrics.body)

        let members = try JSON.parse(try HTTPClient.get(n1, "/api/v1/members").body)
        XCTAssertEqual(members["members"]?.arrayValue?.compactMap { $0["state"]?.stringValue }, ["alive", "alive", "alive"])
        XCTAssertEqual(members["members"]?.arrayValue?.compactMap { $0["name"]?.stringValue }, ["n1", "n2", "n3"])
        XCTAssertEqual(members["members"]?.arrayValue?.compactMap { $0["http"]?.stringValue }, ["n1", "n2", "n3"].map { addresses[$0]! },
                       "members gossip their HTTP addresses")
        let agents = try HTTPClient.get(n1, "/api/v1/agents")
        XCTAssertEqual(agents.status, 200)
        XCTAssertNotNil(try JSON.parse(agents.body)["agents"]?.arrayValue, agents.body)
        let events = try JSON.parse(try HTTPClient.get(n1, "/api/v1/events?limit=2").body)
        XCTAssertEqual(events["events"]?.arrayValue?.count, 2)
        XCTAssertEqual(try HTTPClient.get(n1, "/api/v1/events?limit=zero").status, 400)
        XCTAssertEqual(try HTTPClient.get(n1, "/nowhere").status, 404)
        XCTAssertEqual(try HTTPClient.get(n1, "/metrics", method: "POST").status, 405, "the endpoint is read-only")

        // The stream carries records written after the client subscribed: n3's death, as n1 records it.
        let stream = try HTTPClient.EventStream(n1, "/api/v1/stream")
        defer { stream.close() }
        XCTAssertTrue(stream.read(until: "\r\n\r\n", timeout: 5).contains("text/event-stream"), "the stream answers first")
        kill(lab.node("n3").pid, SIGKILL)
        let seen = stream.read(until: "\"state\":\"dead\"", timeout: LabHarness.timeout)
        XCTAssertTrue(seen.contains("event: member_changed"), "no member_changed event in the stream: \(seen)")
        XCTAssertTrue(seen.contains("\"member\":\"n3\""), seen)

        // The death shows in the counters: n1 suspected n3 and measured how long it took to call it dead.
        let after = try HTTPClient.get(n1, "/metrics").body
        XCTAssertGreaterThanOrEqual(metricValue(after, "kith_suspicions_total") ?? 0, 1, after)
        XCTAssertGreaterThan(metricValue(after, "kith_probes_sent_total{kind=\"ping\"}") ?? 0, 0, "probes are counted")
        XCTAssertEqual(metricValue(after, "kith_members{state=\"dead\"}"), 1, after)
        let detected = metricValue(after, "kith_failure_detection_seconds_count") ?? 0
        XCTAssertEqual(detected, 1, "one death detected: \(after)")
        let seconds = metricValue(after, "kith_failure_detection_seconds_sum") ?? 0
        XCTAssertTrue((0.1...LabHarness.timeout).contains(seconds), "detection took \(seconds) s")
        try checkWithPromtool(after)
        XCTAssertEqual(try HTTPClient.get(n1, "/readyz").status, 200, "n1 stays ready with n2 alive")
    }

    func testARealPrometheusScrapesTheLab() throws {
        guard let prometheus = executableOnPath("prometheus") else {
            print("SKIP testARealPrometheusScrapesTheLab: no prometheus binary (scripts/deps.sh --tests installs it)")
            return
        }
        try lab.start(nodes: 3)
        let targets = try httpAddresses().values.sorted()
        XCTAssertEqual(targets.count, 3)
        let directory = lab.directory + "/prometheus"
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: kith
                static_configs:
                  - targets: [\(targets.map { "'\($0)'" }.joined(separator: ", "))]
            """
        try config.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        let web = "127.0.0.1:\(try freeLoopbackPort())"
        let pid = try Subprocess.spawn(prometheus, [
            "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
            "--web.listen-address=\(web)", "--log.level=warn",
        ], stdout: directory + "/stdout", stderr: directory + "/stderr")
        extraPids.append(pid)

        try lab.waitUntil("prometheus scrapes all three nodes as up", timeout: 60) {
            guard let up = try? query(web, "up") else { return false }
            return up.count == 3 && up.allSatisfy { $0.value == 1 }
        }
        try lab.waitUntil("prometheus has every node's members gauge", timeout: 30) {
            guard let alive = try? query(web, "kith_members{state=\"alive\"}") else { return false }
            return alive.count == 3 && alive.allSatisfy { $0.value == 3 }
        }
        let instances = try query(web, "kith_members{state=\"alive\"}").map(\.instance).sorted()
        XCTAssertEqual(instances, targets)
    }

    func testTheTokenGuardsAllButTheProbes() throws {
        let tokenPath = lab.directory + "/token"
        try FileManager.default.createDirectory(atPath: lab.directory, withIntermediateDirectories: true)
        try "s3cret-token\n".write(toFile: tokenPath, atomically: true, encoding: .utf8)
        let http = try startDaemon(extra: ["--http-token-file", tokenPath])
        XCTAssertEqual(try HTTPClient.get(http, "/metrics").status, 401)
        XCTAssertEqual(try HTTPClient.get(http, "/api/v1/members", headers: ["Authorization": "Bearer wrong"]).status, 401)
        XCTAssertEqual(try HTTPClient.get(http, "/metrics", headers: ["Authorization": "Bearer s3cret-token"]).status, 200)
        XCTAssertEqual(try HTTPClient.get(http, "/healthz").status, 200, "probes need no token")
        XCTAssertEqual(try HTTPClient.get(http, "/readyz").status, 200, "a node without seeds is ready at once")
        XCTAssertEqual(try HTTPClient.get(http, "/").status, 200, "the dashboard page holds no data; it reads the API with the token")
        let preflight = try HTTPClient.get(http, "/api/v1/members", method: "OPTIONS",
                                           headers: ["Origin": "http://127.0.0.1:9", "Access-Control-Request-Headers": "authorization"])
        XCTAssertEqual(preflight.status, 204, "a browser's preflight carries no token")
        XCTAssertEqual(preflight.headers["access-control-allow-headers"], "Authorization")
        let denied = try HTTPClient.get(http, "/api/v1/members")
        XCTAssertEqual(denied.status, 401)
        XCTAssertEqual(denied.headers["access-control-allow-origin"], "*", "a page on another node can tell a bad token from a dead node")
    }

    func testBadHTTPSettingsStopTheDaemonWithExit2() throws {
        let control = "127.0.0.1:\(try freeLoopbackPort())"
        let listen = "127.0.0.1:\(try freeLoopbackPort())"
        let base = ["--name", "x", "--listen", listen, "--control", control, "--data-dir", lab.directory + "/x"]
        let badAddress = try Subprocess.run(Binaries.kithd, base + ["--http", "localhost"], timeout: 10)
        XCTAssertEqual(badAddress.status, 2)
        XCTAssertTrue(badAddress.stderr.contains("http must be HOST:PORT"), badAddress.stderr)
        let tokenAlone = try Subprocess.run(Binaries.kithd, base + ["--http-token-file", "/nonexistent"], timeout: 10)
        XCTAssertEqual(tokenAlone.status, 2)
        XCTAssertTrue(tokenAlone.stderr.contains("http_token_file needs --http"), tokenAlone.stderr)
        let http = "127.0.0.1:\(try freeLoopbackPort())"
        let missingToken = try Subprocess.run(Binaries.kithd, base + ["--http", http, "--http-token-file", lab.directory + "/none"],
                                              timeout: 10)
        XCTAssertNotEqual(missingToken.status, 0, "a token file that cannot be read must stop the daemon")
        XCTAssertTrue(missingToken.stderr.contains("http_token_file"), missingToken.stderr)
    }

    func testReadinessFailsUntilJoinedAndAfterTheLoopStalls() throws {
        // Seeds that nobody answers: alive, but not joined.
        let lonely = try startDaemon(extra: ["--join", "127.0.0.1:\(try freeLoopbackPort())"])
        let notJoined = try HTTPClient.get(lonely, "/readyz")
        XCTAssertEqual(notJoined.status, 503)
        XCTAssertEqual(try JSON.parse(notJoined.body)["joined"], .bool(false), notJoined.body)
        XCTAssertEqual(try HTTPClient.get(lonely, "/healthz").status, 200, "alive though not ready")

        // A node without seeds is ready; stop it for 1.5 s and its first answer after says it stalled.
        let http = try startDaemon(extra: [])
        XCTAssertEqual(try HTTPClient.get(http, "/readyz").status, 200)
        let pid = try XCTUnwrap(extraPids.last)
        kill(pid, SIGSTOP)
        usleep(1_500_000)
        let pending = try HTTPClient.EventStream(http, "/readyz")  // queued in the kernel while the daemon is stopped
        defer { pending.close() }
        kill(pid, SIGCONT)
        let answer = pending.read(until: "}", timeout: 5)
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 503"), answer)
        XCTAssertTrue(answer.contains("\"ready\":false"), answer)
        try lab.waitUntil("ready again once the loop keeps time", timeout: 5) {
            (try? HTTPClient.get(http, "/readyz").status) == 200
        }
    }

    func testSystemdHearsReadyWatchdogPingsThatStopWhenTheLoopStallsAndStopping() throws {
        try FileManager.default.createDirectory(atPath: lab.directory, withIntermediateDirectories: true)
        let socketPath = lab.directory + "/notify.sock"
        let listener = try DatagramListener(path: socketPath)
        defer { listener.close() }
        _ = try startDaemon(extra: [], environment: ["NOTIFY_SOCKET": socketPath, "WATCHDOG_USEC": "200000"])
        let pid = try XCTUnwrap(extraPids.last)
        var heard = listener.receive(for: 1.0)
        XCTAssertEqual(heard.first, "READY=1", "\(heard)")
        XCTAssertGreaterThanOrEqual(heard.filter { $0 == "WATCHDOG=1" }.count, 5, "pings every 100 ms: \(heard)")
        kill(pid, SIGSTOP)
        _ = listener.receive(for: 0.15)  // a ping already on its way
        XCTAssertEqual(listener.receive(for: 0.6), [], "a stopped loop must not ping the watchdog")
        kill(pid, SIGCONT)
        XCTAssertTrue(listener.receive(for: 0.5).contains("WATCHDOG=1"), "pings resume with the loop")
        kill(pid, SIGTERM)
        heard = listener.receive(for: 1.0)
        XCTAssertTrue(heard.contains("STOPPING=1"), "\(heard)")
        XCTAssertEqual(Subprocess.waitForExit(pid, timeout: 5), 0)
    }

    // MARK: helpers

    /// Starts one kithd with `--http` on a free port (plus `extra`), waits for /healthz, returns the address.
    private func startDaemon(extra: [String], environment: [String: String] = [:]) throws -> String {
        let name = "solo\(extraPids.count + 1)"
        let dataDir = lab.directory + "/" + name
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let http = "127.0.0.1:\(try freeLoopbackPort())"
        let pid = try Subprocess.spawn(Binaries.kithd, [
            "--name", name, "--listen", "127.0.0.1:\(try freeLoopbackPort())", "--control", "127.0.0.1:\(try freeLoopbackPort())",
            "--data-dir", dataDir, "--http", http,
        ] + extra, environment: environment, stdout: dataDir + "/kithd.log", stderr: dataDir + "/kithd.err")
        extraPids.append(pid)
        try lab.waitUntil("\(name) answers /healthz", timeout: 10) {
            if let status = Subprocess.waitForExit(pid, timeout: 0) {
                let err = (try? String(contentsOfFile: dataDir + "/kithd.err", encoding: .utf8)) ?? ""
                throw HarnessError("\(name) exited \(status): \(err)")
            }
            return (try? HTTPClient.get(http, "/healthz").status) == 200
        }
        return http
    }

    /// `promtool check metrics` on `text` when promtool is installed; a printed SKIP otherwise.
    private func checkWithPromtool(_ text: String) throws {
        guard let promtool = executableOnPath("promtool") else {
            print("SKIP promtool check metrics: promtool is not installed (scripts/deps.sh --tests)")
            return
        }
        let path = lab.directory + "/metrics-\(UUID().uuidString).txt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try Subprocess.run("/bin/sh", ["-c", "\"$0\" check metrics < \"$1\"", promtool, path], timeout: 30)
        XCTAssertEqual(result.status, 0, "promtool: \(result.stdout)\(result.stderr)")
        XCTAssertEqual(result.stdout + result.stderr, "", "promtool has complaints")
    }

    /// The instant vector Prometheus returns for `promql`: each series' instance and value.
    private func query(_ web: String, _ promql: String) throws -> [(instance: String, value: Double)] {
        let encoded = promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? promql
        let reply = try HTTPClient.get(web, "/api/v1/query?query=\(encoded)")
        guard reply.status == 200 else { throw HarnessError("query \(promql): \(reply.status) \(reply.body)") }
        let json = try JSON.parse(reply.body)
        return (json["data"]?["result"]?.arrayValue ?? []).compactMap { series in
            guard let instance = series["metric"]?["instance"]?.stringValue,
                  let value = series["value"]?.arrayValue?.last?.stringValue.flatMap(Double.init) else { return nil }
            return (instance, value)
        }
    }
}

/// The value of the sample line `series` (name with its labels exactly as exposed) in a metrics page.
private func metricValue(_ page: String, _ series: String) -> Double? {
    for line in page.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}

private func executableOnPath(_ name: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(directory)/\(name)"
        if access(path, X_OK) == 0 { return path }
    }
    return nil
}


/// A blocking HTTP/1.1 client for IPv4 loopback, enough for these tests: one request per connection.
enum HTTPClient {
    struct Reply {
        var status: Int
        var headers: [String: String]  // names lowercased
        var body: String
    }

    static func get(_ address: String, _ target: String, method: String = "GET", headers: [String: String] = [:],
                    timeout: Double = 5) throws -> Reply {
        let connection = try EventStream(address, target, method: method, headers: headers)
        defer { connection.close() }
        let raw = connection.readToEnd(timeout: timeout)
        guard let split = raw.range(of: "\r\n\r\n") else { throw HarnessError("no complete response head from \(address)\(target): \(raw)") }
        let head = raw[..<split.lowerBound].split(separator: "\r\n")
        let statusLine = head.first?.split(separator: " ") ?? []
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw HarnessError("bad status line: \(raw)") }
        var fields: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Reply(status: status, headers: fields, body: String(raw[split.upperBound...]))
    }

    /// One connection that sent a request and reads what comes back, for a response or an event stream.
    final class EventStream {
        private let fd: Int32
        private var received: [UInt8] = []

        init(_ address: String, _ target: String, method: String = "GET", headers: [String: String] = [:]) throws {
            guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
                throw HarnessError("not HOST:PORT: \(address)")
            }
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var sockaddress = sockaddr_in()
            sockaddress.sin_family = sa_family_t(AF_INET)
            sockaddress.sin_port = port.bigEndian
            sockaddress.sin_addr.s_addr = inet_addr(String(address[..<colon]))
            let connected = withUnsafePointer(to: &sockaddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard connected else {
                let reason = String(cString: strerror(errno))
                Glibc.close(fd)
                throw HarnessError("cannot connect to \(address): \(reason)")
            }
            var request = "\(method) \(target) HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\n"
            for (name, value) in headers { request += "\(name): \(value)\r\n" }
            request += "Content-Length: 0\r\n\r\n"
            let bytes = Array(request.utf8)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }

        /// Everything received until `marker` appears (or `timeout` seconds pass, or the peer closes).
        func read(until marker: String, timeout: Double) -> String {
            let deadline = Date().addingTimeInterval(timeout)
            while !text.contains(marker), Date() < deadline, receive(timeoutMilliseconds: 100) {}
            return text
        }

        func readToEnd(timeout: Double) -> String {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline, receive(timeoutMilliseconds: 100) {}
            return text
        }

        private var text: String { String(decoding: received, as: UTF8.self) }

        /// Waits up to `timeoutMilliseconds` for bytes; false once the peer has closed (or failed).
        private func receive(timeoutMilliseconds: Int32) -> Bool {
            var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&poll, 1, timeoutMilliseconds) > 0 else { return true }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return false }
            received += buffer[..<count]
            return true
        }

        func close() { Glibc.close(fd) }
    }
}

/// A Unix datagram socket standing in for systemd's `$NOTIFY_SOCKET`.
private final class DatagramListener {
    private let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw HarnessError("path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
        guard bound else { throw HarnessError("cannot bind \(path): \(String(cString: strerror(errno)))") }
    }

    /// Every datagram that arrives within `seconds`.
    func receive(for seconds: Double) -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var messages: [String] = []
        while case let left = deadline.timeIntervalSinceNow, left > 0 {
            var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&poll, 1, Int32(left * 1000) + 1) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 { messages.append(String(decoding: buffer[..<count], as: UTF8.self)) }
        }
        return messages
    }

    func close() { Glibc.close(fd) }
}
