import CSodium

/// Anonymous public-key encryption (libsodium's sealed boxes) to a node's
/// Ed25519 identity, so secrets such as cluster keys cross the control port
/// readable only by the node they are meant for.
///
/// A node already has one key pair, the Ed25519 key that signs its event log
/// and whose public half `status` reports; the box is sealed to the X25519
/// key derived from it (`crypto_sign_ed25519_pk_to_curve25519`), so no
/// second key has to be distributed or pinned. The sender stays anonymous
/// and nothing is authenticated by the box itself: the request carrying it
/// is what the operator signs.
public enum SealedBox {
    /// What sealing adds to the message: an ephemeral public key and a MAC.
    public static let overheadBytes = crypto_box_sealbytes()

    /// `message` sealed to the holder of the Ed25519 key `publicKey`; nil when
    /// `publicKey` is not 32 bytes of a valid Ed25519 point.
    public static func seal(_ message: [UInt8], to publicKey: [UInt8]) -> [UInt8]? {
        Sodium.ensureInitialized()
        guard publicKey.count == Int(crypto_sign_PUBLICKEYBYTES) else { return nil }
        var curvePublic = [UInt8](repeating: 0, count: Int(crypto_box_PUBLICKEYBYTES))
        guard crypto_sign_ed25519_pk_to_curve25519(&curvePublic, publicKey) == 0 else { return nil }
        var sealed = [UInt8](repeating: 0, count: message.count + overheadBytes)
        guard crypto_box_seal(&sealed, message, UInt64(message.count), curvePublic) == 0 else { return nil }
        return sealed
    }
}

extension SigningKey {
    /// The message inside a box sealed to this key's public half, or nil when
    /// it was sealed to another key, altered, or is not a box at all.
    public func openSealed(_ sealed: [UInt8]) -> [UInt8]? {
        Sodium.ensureInitialized()
        guard sealed.count >= SealedBox.overheadBytes else { return nil }
        var curvePublic = [UInt8](repeating: 0, count: Int(crypto_box_PUBLICKEYBYTES))
        var curveSecret = [UInt8](repeating: 0, count: Int(crypto_box_SECRETKEYBYTES))
        defer { sodium_memzero(&curveSecret, curveSecret.count) }
        guard crypto_sign_ed25519_pk_to_curve25519(&curvePublic, publicKey) == 0,
              crypto_sign_ed25519_sk_to_curve25519(&curveSecret, secretKey) == 0 else { return nil }
        var message = [UInt8](repeating: 0, count: sealed.count - SealedBox.overheadBytes)
        guard crypto_box_seal_open(&message, sealed, UInt64(sealed.count), curvePublic, curveSecret) == 0 else { return nil }
        return message
    }
}
