import CSodium

/// Checking Ed25519 signatures, for anyone holding only a public key.
public enum Ed25519 {
    /// True when `signature` is `publicKey`'s signature of `message`.
    ///
    /// Inputs of the wrong size are false rather than a trap: they arrive from
    /// files and the network.
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        Sodium.ensureInitialized()
        guard signature.count == Int(crypto_sign_BYTES), publicKey.count == Int(crypto_sign_PUBLICKEYBYTES) else {
            return false
        }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}
