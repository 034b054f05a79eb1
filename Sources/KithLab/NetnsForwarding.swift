import Foundation

/// Lets a netns lab's bridge forward between its own ports on a host where
/// bridged packets pass through iptables (`br_netfilter`) and the FORWARD
/// policy drops, as Docker sets it: without this, no two namespaces of the lab
/// can talk. One commented ACCEPT rule for traffic in and out of the lab's
/// bridge goes first in FORWARD at `lab up` (also when the policy accepts
/// today, so an engine started later breaks nothing), and every such rule for
/// that bridge goes at `lab down`. Other traffic and chains are untouched.
package enum NetnsForwarding {
    static let comment = "kith netns lab"

    /// Whether bridged packets are filtered by iptables here (br_netfilter loaded and on) and iptables is installed.
    package static var filtersBridges: Bool {
        let setting = (try? String(contentsOfFile: "/proc/sys/net/bridge/bridge-nf-call-iptables", encoding: .utf8)) ?? "0"
        return setting.trimmingCharacters(in: .whitespacesAndNewlines) == "1" && (try? NetnsTools.path("iptables")) != nil
    }

    static func rule(_ bridge: String) -> [String] {
        ["FORWARD", "-i", bridge, "-o", bridge, "-m", "comment", "--comment", comment, "-j", "ACCEPT"]
    }

    /// Adds the rule for `bridge` when bridged packets are filtered; returns whether it did.
    @discardableResult
    package static func allow(_ bridge: String) throws -> Bool {
        guard filtersBridges else { return false }
        try NetnsTools.must(["iptables", "-w", "-I"] + rule(bridge))
        return true
    }

    /// Deletes every rule `allow` added for `bridge`; returns what failed, nil when none is left.
    package static func remove(_ bridge: String) -> String? {
        guard (try? NetnsTools.path("iptables")) != nil else { return nil }
        for _ in 0..<16 {
            guard let check = try? NetnsTools.run(["iptables", "-w", "-C"] + rule(bridge)), check.succeeded else { return nil }
            let delete = try? NetnsTools.run(["iptables", "-w", "-D"] + rule(bridge))
            guard delete?.succeeded == true else { return "iptables -D FORWARD for \(bridge): \(delete?.output ?? "could not run")" }
        }
        return "iptables FORWARD still holds rules for \(bridge)"
    }
}
