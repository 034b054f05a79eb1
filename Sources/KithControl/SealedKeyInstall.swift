import KithCrypto
import KithJSON

/// The `keys_install` request for one node: the cluster key sealed to that
/// node's event-log key (`SealedBox`), so the plain-TCP control port, the
/// node's refused-request log and anyone replaying the request never see it
/// in clear. Each node gets its own box, sealed to the `public_key` its
/// `status` reports.
public enum SealedKeyInstall {
    /// The request installing `key` under `id` on the node whose public key is
    /// `nodePublicKeyHex`; nil when that is not a valid Ed25519 public key.
    public static func request(id: Int, key: [UInt8], nodePublicKeyHex: String) -> JSON? {
        guard let publicKey = Hex.decode(nodePublicKeyHex), let sealed = SealedBox.seal(key, to: publicKey) else { return nil }
        return ["cmd": "keys_install", "id": .int(Int64(id)), "sealed_key": .string(Hex.encode(sealed))]
    }

    /// The cluster key in a key file's or stdin's `text`: one line of hex as
    /// `kithctl keys generate` prints it; blank lines and `#` comments are skipped.
    public static func parseKey(_ text: String) -> [UInt8]? {
        let lines = text.split(whereSeparator: \.isNewline).map { String($0).trimmingSpaces }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard lines.count == 1, let bytes = Hex.decode(lines[0].lowercased()), bytes.count == ClusterKey.keySize else { return nil }
        return bytes
    }
}
