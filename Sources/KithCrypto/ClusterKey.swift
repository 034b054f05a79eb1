import CSodium

/// A shared secret that authenticates node-to-node frames with libsodium's
/// `crypto_auth` (HMAC-SHA-512-256).
///
/// The `id` travels with each frame so a receiver can hold a keyring of a few
/// keys and rotate without a flag day.
public struct ClusterKey: Sendable, Hashable {
    /// Which key of a keyring this is; sent in clear next to the MAC.
    public let id: UInt8
    /// The 32-byte secret.
    public let bytes: [UInt8]

    /// The size of a key and of a MAC, in bytes.
    public static let keySize = Int(crypto_auth_KEYBYTES)
    public static let macSize = Int(crypto_auth_BYTES)

    /// A fresh random key.
    public static func generate(id: UInt8) -> ClusterKey {
        Sodium.ensureInitialized()
        var bytes = [UInt8](repeating: 0, count: keySize)
        crypto_auth_keygen(&bytes)
        return ClusterKey(uncheckedID: id, bytes: bytes)
    }

    /// A key read back from a file; nil unless `bytes` is 32 bytes.
    public init?(id: UInt8, bytes: [UInt8]) {
        guard bytes.count == Self.keySize else { return nil }
        self.init(uncheckedID: id, bytes: bytes)
    }

    private init(uncheckedID id: UInt8, bytes: [UInt8]) {
        self.id = id
        self.bytes = bytes
    }

    /// The 32-byte MAC of `data`.
    public func mac(_ data: some Collection<UInt8>) -> [UInt8] {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: Self.macSize)
        withContiguousBytes(data) { input in
            _ = crypto_auth(&out, input.baseAddress, UInt64(input.count), bytes)
        }
        return out
    }

    /// True when `mac` authenticates `data`; compared in constant time so a
    /// forger learns nothing from how long a rejection takes. Wrong sizes are false.
    public func verify(mac: some Collection<UInt8>, data: some Collection<UInt8>) -> Bool {
        Sodium.ensureInitialized()
        guard mac.count == Self.macSize else { return false }
        return withContiguousBytes(mac) { tag in
            withContiguousBytes(data) { input in
                crypto_auth_verify(tag.baseAddress!, input.baseAddress, UInt64(input.count), bytes) == 0
            }
        }
    }
}

/// Only the id prints, so a key that ends up in a log line leaks nothing.
extension ClusterKey: CustomStringConvertible {
    public var description: String { "ClusterKey(id: \(id))" }
}
