import CSodium

/// A node's Ed25519 identity: signs records so that anyone holding the
/// 32-byte public key can check who wrote them.
///
/// The secret key is kept in a Swift array, which cannot be reliably wiped;
/// treat the process's memory as holding the secret.
public struct SigningKey: Sendable {
    /// The 32-byte Ed25519 public key.
    public let publicKey: [UInt8]
    private let secret: [UInt8]

    /// A fresh key pair from libsodium's random source.
    public static func generate() -> SigningKey {
        Sodium.ensureInitialized()
        var publicKey = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        var secret = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        _ = crypto_sign_keypair(&publicKey, &secret)
        return SigningKey(publicKey: publicKey, secret: secret)
    }

    /// A key from libsodium's 64-byte secret key (32-byte seed, then the public key).
    ///
    /// Nil unless it is 64 bytes and its second half really is the public key of
    /// its seed, so a corrupted key file is caught at load, not as bad signatures later.
    public init?(secretKey: [UInt8]) {
        Sodium.ensureInitialized()
        guard secretKey.count == Int(crypto_sign_SECRETKEYBYTES) else { return nil }
        var publicKey = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        var derived = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        let seed = Array(secretKey.prefix(Int(crypto_sign_SEEDBYTES)))
        guard crypto_sign_seed_keypair(&publicKey, &derived, seed) == 0,
              sodium_memcmp(derived, secretKey, derived.count) == 0 else { return nil }
        self.init(publicKey: publicKey, secret: secretKey)
    }

    private init(publicKey: [UInt8], secret: [UInt8]) {
        self.publicKey = publicKey
        self.secret = secret
    }

    /// The 64-byte libsodium secret key, for writing to a key file.
    public var secretKey: [UInt8] { secret }

    /// The 64-byte detached signature of `message`.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
        _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), secret)
        return signature
    }
}

/// Only the public half prints, so a key that ends up in a log line leaks nothing.
extension SigningKey: CustomStringConvertible {
    public var description: String { "SigningKey(public: \(Hex.encode(publicKey)))" }
}
