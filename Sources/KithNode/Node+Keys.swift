import KithCore
import KithCrypto

/// Key rotation at run time: `keys_install`, `keys_use`, `keys_remove`.
/// The keyring persists (0600) in the data dir and wins over the config
/// at the next start, so a rotation survives restarts.
extension Node {
    static func keyringPath(dataDir: String) -> String { dataDir + "/keyring" }

    static func savedKeyring(dataDir: String) -> [String]? {
        guard let text = try? KeyFile.read(keyringPath(dataDir: dataDir)) else { return nil }
        return text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    func changeKeyring(_ cmd: String, _ request: JSON) -> JSON {
        guard let rawID = request["id"]?.intValue, (1...255).contains(rawID) else { return failure("\(cmd) needs \"id\" 1...255") }
        let id = UInt8(rawID)
        do {
            switch cmd {
            case "keys_install":
                // The key arrives sealed to this node's event-log key, never in clear: the control
                // port is plain TCP, and a cleartext key would be one capture away from the cluster.
                guard request["key"] == nil else { return failure("keys_install takes the key sealed (\"sealed_key\"), never in clear") }
                guard let hex = request["sealed_key"]?.stringValue, let sealed = Hex.decode(hex) else {
                    return failure("keys_install needs \"sealed_key\": hex of the key sealed to this node's public_key")
                }
                guard let bytes = events.openSealed(sealed) else {
                    return failure("sealed_key does not open with this node's key (sealed to another node, or altered)")
                }
                guard let key = ClusterKey(id: id, bytes: bytes) else {
                    return failure("the sealed key is \(bytes.count) bytes, not \(ClusterKey.keySize)")
                }
                keyring.install(key)
            case "keys_use":
                try keyring.use(id)
            default:
                try keyring.remove(id)
            }
        } catch {
            return failure(error.message)
        }
        do {
            try KeyFile.write(keyring.entries.joined(separator: "\n") + "\n", to: Node.keyringPath(dataDir: config.effectiveDataDir))
        } catch {
            return failure("keyring changed but not saved: \(error)")
        }
        logger.record(.warn, "keyring_changed", ["cmd": .string(cmd), "id": .int(rawID),
                                                 "primary": keyring.primary.map { .int(Int64($0)) } ?? .null])
        return ["ok": true, "node": .string(config.name), "primary": keyring.primary.map { .int(Int64($0)) } ?? .null]
    }
}
