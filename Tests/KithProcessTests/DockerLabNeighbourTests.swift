import Foundation
import Glibc
import XCTest

/// A netns lab on a host where Docker runs: dockerd sets the iptables FORWARD
/// policy to DROP and `br_netfilter` sends bridged packets through it, so a
/// lab bridge forwards nothing unless the lab lets it. The host is played by
/// a private network namespace of this test with exactly that filter (the
/// bridge sysctls are per namespace), so nothing of the machine's own
/// firewall changes. Needs root, `ip`, `nft` and `iptables`; skipped otherwise.
final class DockerLabNeighbourTests: XCTestCase {
    private var sandbox: String?
    private var directory = FileManager.default.temporaryDirectory.appendingPathComponent("kith-neighbour-\(UUID().uuidString)").path

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard geteuid() == 0 else { throw XCTSkip("needs root (network namespaces, iptables)") }
        for tool in ["ip", "nft", "iptables"] where NetnsProbe.tool(tool) == nil {
            throw XCTSkip("\(tool) is not installed")
        }
        let name = "kith-sbx-" + String(UUID().uuidString.prefix(6)).lowercased()
        guard (try? Subprocess.run(NetnsProbe.tool("ip")!, ["netns", "add", name]))?.status == 0 else {
            throw XCTSkip("cannot create a network namespace here")
        }
        sandbox = name
        guard (try? inSandbox("cat", ["/proc/sys/net/bridge/bridge-nf-call-iptables"]))?.stdout.hasPrefix("1") == true else {
            throw XCTSkip("br_netfilter is not loaded here (modprobe br_netfilter), so bridged packets never meet iptables")
        }
        XCTAssertEqual(try inSandbox("ip", ["link", "set", "lo", "up"]).status, 0)
        XCTAssertEqual(try inSandbox("iptables", ["-P", "FORWARD", "DROP"]).status, 0, "Docker's FORWARD policy")
    }

    override func tearDown() {
        if let sandbox {
            _ = try? inSandbox(Binaries.kithctl, ["lab", "down", "--dir", directory])
            _ = try? Subprocess.run(NetnsProbe.tool("ip") ?? "ip", ["netns", "delete", sandbox])
        }
        try? FileManager.default.removeItem(atPath: directory)
        super.tearDown()
    }

    /// Runs `tool` inside the sandbox namespace.
    private func inSandbox(_ tool: String, _ arguments: [String]) throws -> Finished {
        let executable = tool.hasPrefix("/") ? tool : (NetnsProbe.tool(tool) ?? tool)
        return try Subprocess.run(NetnsProbe.tool("ip") ?? "ip", ["netns", "exec", sandbox ?? "?", executable] + arguments,
                                  environment: ["XDG_CONFIG_HOME": directory + "/config"], timeout: 60)
    }

    func testNetnsLabConvergesBehindADropForwardPolicyAndTakesItsRuleAwayAtDown() throws {
        let up = try inSandbox(Binaries.kithctl, ["lab", "up", "--netns", "--nodes", "3", "--dir", directory, "--kithd", Binaries.kithd])
        XCTAssertEqual(up.status, 0, "lab up --netns behind FORWARD DROP: \(up.stdout)\n\(up.stderr)")
        let rules = try inSandbox("iptables", ["-S", "FORWARD"]).stdout
        XCTAssertTrue(rules.contains("-P FORWARD DROP"), rules)
        XCTAssertTrue(rules.contains("--comment \"kith netns lab\" -j ACCEPT") && rules.contains("kith-br"), "the lab's rule: \(rules)")
        let members = try inSandbox(Binaries.kithctl, ["--node", "10.77.0.1:7400", "members"])
        XCTAssertEqual(members.stdout.components(separatedBy: " alive ").count - 1, 3, "all three alive: \(members.stdout)")

        let down = try inSandbox(Binaries.kithctl, ["lab", "down", "--dir", directory])
        XCTAssertEqual(down.status, 0, down.stderr)
        let after = try inSandbox("iptables", ["-S", "FORWARD"]).stdout
        XCTAssertFalse(after.contains("kith netns lab"), "lab down removes its rule: \(after)")
        XCTAssertTrue(after.contains("-P FORWARD DROP"), "and leaves the policy alone: \(after)")
    }
}
