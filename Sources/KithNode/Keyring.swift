import KithCore
import KithCrypto

/// The cluster keys that authenticate node-to-node frames, with one primary.
///
/// Frames are sealed with the primary key and accepted under any installed
/// key, so keys rotate without downtime: install the new key everywhere,
/// make it primary everywhere, then remove the old one. An empty keyring
/// means frames travel unauthenticated (a lab on loopback).
struct Keyring {
    private(set) var keys: [UInt8: ClusterKey] = [:]
    private(set) var primary: UInt8?

    /// Marks a sealed frame: `[marker][key id][32-byte MAC][payload]`. The
    /// codec's version byte is never this value, so the two cannot be confused.
    static let marker: UInt8 = 0xAE
    static let headerBytes = 2 + ClusterKey.macSize

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

    /// The frame as sent: sealed with the primary key, or as is without keys.
    func seal(_ payload: [UInt8]) -> [UInt8] {
        guard let primary, let key = keys[primary] else { return payload }
        return [Keyring.marker, primary] + key.mac(payload) + payload
    }

    /// The payload of a frame that authenticates, or nil (to be dropped and counted).
    func open(_ frame: [UInt8]) -> ArraySlice<UInt8>? {
        guard !keys.isEmpty else { return frame[...] }
        guard frame.count >= Keyring.headerBytes, frame[0] == Keyring.marker, let key = keys[frame[1]] else { return nil }
        let payload = frame[Keyring.headerBytes...]
        return key.verify(mac: frame[2..<Keyring.headerBytes], data: payload) ? payload : nil
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
