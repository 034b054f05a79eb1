import KithCore

/// The compose file of a container lab, made from `docker/compose.yaml`'s
/// node service: the same image, entrypoint (`kith-entrypoint`, which reads
/// the secrets as root and runs kithd as `kith` without capabilities),
/// environment keys, secrets and healthcheck, but with the lab's node count,
/// fixed addresses on its own bridge network, and each data directory
/// bind-mounted at its own host path, so logs, event logs and agent logs
/// sit where they do in the other labs.
package enum DockerCompose {
    /// Where each container finds the two secrets.
    package static let operatorKeysPath = "/run/secrets/operator_pub"
    package static let clusterKeysPath = "/run/secrets/cluster_key"
    /// The reference agent inside the image; `lab up --docker --kith-agent` picks another
    /// (`/usr/local/lib/kith/agents/guardian.py`: the Python one, on the image's python3).
    package static let kithAgent = "/usr/local/bin/kith-agent"

    package struct Node {
        package var name: String
        package var container: String
        package var address: String
        package var dataDir: String
        /// kithd settings as `KITH_*` variables (`kithd --config-from-env` and the entrypoint read them).
        package var environment: [String: String]
    }

    /// The compose file as JSON (compose reads JSON as YAML): the two key files
    /// become the secrets, `bridge` names the network's Linux bridge.
    package static func file(nodes: [Node], image: String, subnet: String, gateway: String, bridge: String,
                             operatorKeysFile: String, clusterKeysFile: String, netAdmin: Bool, labID: String) -> JSON {
        var services: [String: JSON] = [:]
        for node in nodes {
            var service: [String: JSON] = [
                "image": .string(image),
                "container_name": .string(node.container),
                "hostname": .string(node.name),
                // Root only to read the secrets (0600 files) and hand the data directory to kith; the
                // entrypoint then drops to kith with no capabilities and no_new_privs.
                "user": "root",
                // kithd's stdout to the data directory, as in the other labs (kithctl and tests read it there).
                "command": ["sh", "-c", "exec kith-entrypoint kithd >>\"$$KITH_DATA_DIR/kithd.log\" 2>&1"],
                "environment": .object(node.environment.mapValues(JSON.string)),
                "secrets": ["operator_pub", "cluster_key"],
                "networks": ["kith": ["ipv4_address": .string(node.address)]],
                "volumes": .array([.string("\(node.dataDir):\(node.dataDir)")]),
                "healthcheck": [
                    "test": ["CMD", "kith-entrypoint", "health"],
                    "interval": "2s", "timeout": "2s", "retries": 3, "start_period": "5s",
                ],
                "stop_grace_period": "3s",
                "restart": "no",
                "labels": ["org.kith.lab": .string(labID)],
            ]
            if netAdmin { service["cap_add"] = ["NET_ADMIN"] }
            services[node.name] = .object(service)
        }
        return [
            "version": "3.8",
            "services": .object(services),
            "networks": [
                "kith": [
                    "driver": "bridge",
                    "driver_opts": ["com.docker.network.bridge.name": .string(bridge)],
                    "ipam": ["config": [["subnet": .string(subnet), "gateway": .string(gateway)]]],
                    "labels": ["org.kith.lab": .string(labID)],
                ],
            ],
            "secrets": [
                "operator_pub": ["file": .string(operatorKeysFile)],
                "cluster_key": ["file": .string(clusterKeysFile)],
            ],
        ]
    }

    /// The environment of node `name`: its addresses, data directory, seeds, secrets and cluster settings.
    package static func environment(name: String, address: String, dataDir: String, seeds: [String], cluster: String?,
                                    relaunchQuorum: String?, netAdmin: Bool) -> [String: String] {
        var environment = [
            "KITH_NAME": name,
            "KITH_LISTEN": "\(address):\(NetnsLab.gossipPort)",
            "KITH_ADVERTISE": "\(address):\(NetnsLab.gossipPort)",
            "KITH_CONTROL": "\(address):\(NetnsLab.controlPort)",
            "KITH_HTTP": "\(address):\(NetnsLab.httpPort)",
            "KITH_DATA_DIR": dataDir,
            "KITH_OPERATOR_KEYS_FILE": operatorKeysPath,
            "KITH_CLUSTER_KEYS_FILE": clusterKeysPath,
            "KITH_AGENTS": "0",
            "KITH_NET_FAULTS": netAdmin ? "nft" : "kithctl",
        ]
        if !seeds.isEmpty { environment["KITH_JOIN"] = seeds.joined(separator: ",") }
        if let cluster { environment["KITH_CLUSTER"] = cluster }
        if let relaunchQuorum { environment["KITH_RELAUNCH_QUORUM"] = relaunchQuorum }
        return environment
    }
}
