import Foundation
import KithCore

/// One "host" of a netns lab: a namespace with one end of a veth pair.
package struct NetnsHost {
    package var node: String
    package var namespace: String
    /// The veth end on the bridge, in the root namespace.
    package var veth: String
    /// The other end, inside the namespace.
    package var device: String
    package var address: String
}

/// A partition applied with nftables: `left`'s frames to `right` are dropped
/// (and the reverse unless `oneway`).
package struct NetnsPartition {
    package var left: [String]
    package var right: [String]
    package var oneway: Bool

    package var description: String { "\(left.joined(separator: ",")) / \(right.joined(separator: ","))\(oneway ? " (one way)" : "")" }
}

/// Emulated link trouble on one node's veth: a tc netem qdisc, or (when the
/// kernel has no netem) an nftables rule dropping a share of its packets.
package struct NetnsImpairment {
    package var node: String
    /// "tc-netem", "nftables" (loss without netem) or "kithd" (delay without netem: the daemon's own fault filter).
    package var mechanism: String
    package var delayMilliseconds: Int?
    package var jitterMilliseconds: Int?
    package var lossPercent: Double?

    package var description: String {
        var parts: [String] = []
        if let delayMilliseconds { parts.append("delay \(delayMilliseconds) ms" + (jitterMilliseconds.map { " ± \($0) ms" } ?? "")) }
        if let lossPercent { parts.append("loss \(NetnsImpairment.percent(lossPercent))%") }
        return parts.joined(separator: ", ") + " (\(mechanism))"
    }

    package static func percent(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// What a netns lab created in the kernel, kept under "netns" in lab.json
/// beside the usual record, so `lab down` can remove all of it after any crash.
/// Everything is recorded before it is created.
package struct NetnsNetwork {
    package var id: String
    package var subnet: String
    package var bridge: String
    package var gateway: String
    package var prefix: Int
    package var hosts: [NetnsHost]
    package var partitions: [NetnsPartition] = []
    package var impairments: [NetnsImpairment] = []
    /// nftables tables created in namespaces: "NAMESPACE inet TABLE".
    package var nftTables: [String] = []
    /// Root qdiscs created in namespaces: "NAMESPACE DEVICE".
    package var qdiscs: [String] = []

    /// The table partitions live in, in each namespace.
    package static let partitionTable = "kith"
    /// The table of the nftables loss fallback, in each namespace.
    package static let lossTable = "kith-loss"

    /// Every name this lab's objects start with: namespaces `kith-ID-nI`, veths `kith-ID-hI`.
    package var prefixName: String { "kith-\(id)-" }

    package func host(_ node: String) throws -> NetnsHost {
        guard let host = hosts.first(where: { $0.node == node }) else {
            throw Failure("the lab has no node '\(node)' (it has \(hosts.map(\.node).joined(separator: ", ")))")
        }
        return host
    }

    package var json: JSON {
        .object([
            "id": .string(id), "subnet": .string(subnet), "bridge": .string(bridge), "gateway": .string(gateway),
            "prefix": .int(Int64(prefix)),
            "hosts": .array(hosts.map { host in
                ["node": .string(host.node), "namespace": .string(host.namespace), "veth": .string(host.veth),
                 "device": .string(host.device), "address": .string(host.address)]
            }),
            "partitions": .array(partitions.map { partition in
                ["left": .array(partition.left.map(JSON.string)), "right": .array(partition.right.map(JSON.string)),
                 "oneway": .bool(partition.oneway)]
            }),
            "impairments": .array(impairments.map { impairment in
                var object: [String: JSON] = ["node": .string(impairment.node), "mechanism": .string(impairment.mechanism)]
                if let delay = impairment.delayMilliseconds { object["delay_ms"] = .int(Int64(delay)) }
                if let jitter = impairment.jitterMilliseconds { object["jitter_ms"] = .int(Int64(jitter)) }
                if let loss = impairment.lossPercent { object["loss_percent"] = .double(loss) }
                return .object(object)
            }),
            "nft_tables": .array(nftTables.map(JSON.string)),
            "qdiscs": .array(qdiscs.map(JSON.string)),
        ])
    }

    package init(id: String, subnet: String, bridge: String, gateway: String, prefix: Int, hosts: [NetnsHost]) {
        self.id = id
        self.subnet = subnet
        self.bridge = bridge
        self.gateway = gateway
        self.prefix = prefix
        self.hosts = hosts
    }

    package init(json: JSON, path: String) throws {
        guard let id = json["id"]?.stringValue, let subnet = json["subnet"]?.stringValue,
              let bridge = json["bridge"]?.stringValue, let gateway = json["gateway"]?.stringValue,
              let prefix = json["prefix"]?.intValue, let hosts = json["hosts"]?.arrayValue else {
            throw Failure("\(path): the 'netns' entry lacks id, subnet, bridge, gateway, prefix or hosts")
        }
        self.init(id: id, subnet: subnet, bridge: bridge, gateway: gateway, prefix: Int(prefix), hosts: try hosts.map { host in
            guard let node = host["node"]?.stringValue, let namespace = host["namespace"]?.stringValue,
                  let veth = host["veth"]?.stringValue, let device = host["device"]?.stringValue,
                  let address = host["address"]?.stringValue else {
                throw Failure("\(path): incomplete netns host entry \(host.serialized())")
            }
            return NetnsHost(node: node, namespace: namespace, veth: veth, device: device, address: address)
        })
        partitions = (json["partitions"]?.arrayValue ?? []).map { partition in
            NetnsPartition(left: (partition["left"]?.arrayValue ?? []).compactMap(\.stringValue),
                           right: (partition["right"]?.arrayValue ?? []).compactMap(\.stringValue),
                           oneway: partition["oneway"]?.boolValue ?? false)
        }
        impairments = (json["impairments"]?.arrayValue ?? []).compactMap { impairment in
            guard let node = impairment["node"]?.stringValue, let mechanism = impairment["mechanism"]?.stringValue else { return nil }
            return NetnsImpairment(node: node, mechanism: mechanism,
                                   delayMilliseconds: impairment["delay_ms"]?.intValue.map(Int.init),
                                   jitterMilliseconds: impairment["jitter_ms"]?.intValue.map(Int.init),
                                   lossPercent: impairment["loss_percent"]?.doubleValue)
        }
        nftTables = (json["nft_tables"]?.arrayValue ?? []).compactMap(\.stringValue)
        qdiscs = (json["qdiscs"]?.arrayValue ?? []).compactMap(\.stringValue)
    }
}

/// A lab record whose daemons run in network namespaces: the usual `LabRecord`
/// (written by `LabRecord.save`, so its format stays the one every other
/// command reads) plus the `netns` entry.
package struct NetnsLabRecord {
    package var lab: LabRecord
    package var network: NetnsNetwork

    /// The netns lab recorded in `directory`; nil when there is no record or it is a plain lab.
    package static func load(from directory: String) throws -> NetnsLabRecord? {
        let path = directory + "/" + LabRecord.fileName
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? JSON.parse(bytes: data), let netns = json["netns"] else { return nil }
        guard let lab = try LabRecord.load(from: directory) else { return nil }
        return NetnsLabRecord(lab: lab, network: try NetnsNetwork(json: netns, path: path))
    }

    /// Whether `directory` holds a netns lab record (a broken one counts, so it is never overwritten).
    package static func isNetns(_ directory: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: directory + "/" + LabRecord.fileName),
              let json = try? JSON.parse(bytes: data) else { return false }
        return json["netns"] != nil
    }

    /// `LabRecord.save` into a staging directory, the netns entry added, then
    /// one atomic rename into place: a crash leaves the old record or the new, never half.
    package func save(to directory: String) throws {
        let staging = directory + "/.lab-netns-staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try lab.save(to: staging)
        let path = staging + "/" + LabRecord.fileName
        guard let data = FileManager.default.contents(atPath: path), case .object(var object) = try JSON.parse(bytes: data) else {
            throw Failure("cannot read back \(path)")
        }
        object["netns"] = network.json
        try (JSON.object(object).serialized(pretty: true) + "\n")
            .write(toFile: directory + "/" + LabRecord.fileName, atomically: true, encoding: .utf8)
    }
}
