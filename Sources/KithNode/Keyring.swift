import KithCore
import KithCrypto

/// The cluster keys that authenticate node-to-node frames, with one primary.
///
/// Frames are sealed with the primary key and accepted under any installed
/// key, each in its connection's `FrameSession` (which stops their replay),
/// so keys rotate without downtime: install the new key everywhere, make it
/// primary everywhere, then remove the old one. An empty keyring means
/// frames travel unauthenticated (a lab on loopback).
struct Keyring {
    private(set) var keys: [UInt8: ClusterKey] = [:]
    private(set) var primary: UInt8?

    var isEmpty: Bool { keys.isEmpty }

    mutating func install(_ key: ClusterKey) {
        keys[key.id] = key
        if primary == nil { primary = key.id }
    }

    mutating func use(_ id: UInt8) throws(ConfigError) {
        guard keys[id] != nil else { throw ConfigError("no cluster key \(id) is installed") }
        primary = id
    }

    mutating func remove(_ id: UInt8) throws(ConfigError) {
        guard keys[id] != nil else { throw ConfigError("no cluster key \(id) is installed") }
        guard id != primary || keys.count == 1 else { throw ConfigError("key \(id) is the primary: use another first") }
        keys[id] = nil
        if primary == id { primary = nil }
    }

    /// The key frames are sealed with.
    var primaryKey: ClusterKey? { primary.flatMap { keys[$0] } }

    /// An installed key by id; frames are accepted under any of them.
    func key(_ id: UInt8) -> ClusterKey? { keys[id] }

    /// The frame carrying `payload` on a connection: sealed in its session with the primary key, or
    /// as is without keys. Nil when the session cannot seal yet (no hello from the peer) or any more.
    func seal(_ payload: [UInt8], in session: inout FrameSession?) -> [UInt8]? {
        guard let key = primaryKey else { return payload }
        return session?.seal(payload, with: key)
    }

    /// Parses `ID:HEX` entries of the `cluster_keys` config key.
    static func parse(_ entries: [String]) throws(ConfigError) -> Keyring {
        var ring = Keyring()
        for entry in entries {
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let id = UInt8(parts[0]), id > 0, let bytes = Hex.decode(parts[1]),
                  let key = ClusterKey(id: id, bytes: bytes) else {
                throw ConfigError("cluster keys are ID:HEX with ID 1...255 and 64 hex digits, got '\(entry.prefix(8))…'")
            }
            ring.install(key)
        }
        return ring
    }

    /// `ID:HEX` entries, primary first, for persisting.
    var entries: [String] {
        keys.keys.sorted { a, b in (a == primary ? 0 : 1, a) < (b == primary ? 0 : 1, b) }
            .compactMap { id in keys[id].map { "\(id):\(Hex.encode($0.bytes))" } }
    }
}
