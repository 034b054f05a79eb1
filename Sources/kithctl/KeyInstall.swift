import Foundation
import KithControl
import KithCore
import KithCrypto
import KithLab

/// `keys install ID --file FILE | -`: the cluster key from a file or stdin,
/// never from argv (where `ps`, `/proc` and shell history show it), sent to
/// each node sealed to that node's own key.
enum KeyInstall {
    static func run(_ rest: [String], file: String?, json: Bool, node: String?, key: OperatorKey) throws {
        guard let idText = rest.first else { throw UsageError("'keys install' takes ID --file FILE (or - to read stdin)") }
        let id = try keyID(idText)
        let source: String
        switch (rest.count, file) {
        case (1, let file?): source = file
        case (2, nil) where rest[1] == "-": source = "-"
        case (2, nil):
            throw UsageError("'keys install' never takes the key on the command line (ps and shell history would show it):"
                + " put it in a file (--file FILE) or pipe it in (-)")
        default: throw UsageError("'keys install' takes ID --file FILE (or - to read stdin)")
        }
        let clusterKey = try readKey(from: source)
        let signer = try key.signer()
        let members = try Fleet.discover(node)
        // Each node's public key from its status, checked against the pin `events verify` keeps:
        // sealing to an impostor's key would hand it the cluster key.
        let statuses = Fleet.broadcast(["cmd": "status"], to: members, signer: nil, timeoutMilliseconds: Fleet.fanOutTimeout)
        let pins = (try? KnownNodes.load()) ?? [:]
        var requests: [(FleetMember, JSON)] = []
        var outcomes: [Int: FleetOutcome] = [:]
        for (index, status) in statuses.enumerated() {
            let member = status.member
            guard let reply = status.reply else {
                outcomes[index] = status
                continue
            }
            let publicKey = reply["public_key"]?.stringValue?.lowercased() ?? ""
            if let pinned = pins[member.name], pinned != publicKey {
                var refused = status
                refused.result = .failure(.unsigned(member.control, reason:
                    "its public key \(publicKey.prefix(16))… is not the one pinned in \(KnownNodes.path) (\(pinned.prefix(16))…);"
                    + " not sealing the key to it (kithctl events verify --repin if the change is expected)"))
                outcomes[index] = refused
                continue
            }
            guard let request = SealedKeyInstall.request(id: id, key: clusterKey, nodePublicKeyHex: publicKey) else {
                var refused = status
                refused.result = .failure(.badReply(member.control, reason: "status has no usable public_key to seal the key to"))
                outcomes[index] = refused
                continue
            }
            requests.append((member, request))
        }
        let sent = Fleet.send(requests, signer: signer, timeoutMilliseconds: Fleet.fanOutTimeout)
        var sentOutcomes = sent.makeIterator()
        let all = statuses.indices.compactMap { outcomes[$0] ?? sentOutcomes.next() }
        try FanOutReport.finish(all, json: json, what: "keys install", ok: "installed key \(id)")
    }

    /// The key in `source` (a file, or `-` for stdin).
    static func readKey(from source: String) throws -> [UInt8] {
        let text: String
        if source == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile().prefix(KeyFile.maxBytes), as: UTF8.self)
        } else {
            do { text = try KeyFile.read(source) } catch { throw Failure("\(error)") }
        }
        guard let bytes = SealedKeyInstall.parseKey(text) else {
            throw Failure("\(source == "-" ? "stdin" : source) does not hold one cluster key: \(2 * ClusterKey.keySize) hex digits"
                + " on one line (kithctl keys generate makes one)")
        }
        return bytes
    }

    static func keyID(_ text: String) throws(UsageError) -> Int {
        guard let id = Int(text), (1...255).contains(id) else { throw UsageError("a key ID is a number from 1 to 255, not '\(text)'") }
        return id
    }
}
