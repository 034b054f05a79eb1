import KithCore
import KithCrypto

/// Kill-switch and quarantine tombstones on disk: a daemon restarted from its data dir
/// refuses to relaunch a switched-off agent before it has heard anyone.
extension Node {
    static func tombstonePath(dataDir: String) -> String { dataDir + "/tombstones.json" }

    func persist(_ tombstones: [Tombstone]) {
        let path = Node.tombstonePath(dataDir: config.effectiveDataDir)
        let json = JSON.array(tombstones.map { tombstone in
            ["agent": .string(tombstone.agent), "epoch": .int(Int64(clamping: tombstone.epoch)),
             "active": .bool(tombstone.active), "kind": .string(tombstone.kind.name), "reason": .string(tombstone.reason),
             "issued_by": .string(tombstone.issuedBy), "proof": tombstone.proof.map(Node.proofJSON) ?? .null]
        })
        do {
            try KeyFile.write(json.serialized(pretty: true) + "\n", to: path)
        } catch {
            logger.error("tombstones_not_persisted", ["path": .string(path), "error": .string(error.description)])
        }
    }

    /// The operator's proof as tombstones.json keeps it (hex fields): the core re-verifies it at load.
    static func proofJSON(_ proof: OperatorProof) -> JSON {
        ["key": .string(Hex.encode(proof.key)), "sig": .string(Hex.encode(proof.signature)),
         "signed": .string(Hex.encode(proof.signed))]
    }

    static func proof(json: JSON) -> OperatorProof? {
        guard let key = json["key"]?.stringValue.flatMap(Hex.decode), let signature = json["sig"]?.stringValue.flatMap(Hex.decode),
              let signed = json["signed"]?.stringValue.flatMap(Hex.decode) else { return nil }
        return OperatorProof(key: key, signature: signature, signed: signed)
    }

    /// Reads tombstones an earlier run persisted (the core drops those whose
    /// proof does not hold); a damaged file is reported, never ignored silently.
    static func restoreTombstones(path: String, logger: Logger) -> [Tombstone] {
        guard let text = try? readWholeFile(path) else { return [] }
        guard let list = (try? JSON.parse(text))?.arrayValue else {
            logger.error("tombstones_unreadable", ["path": .string(path)])
            return []
        }
        let tombstones = list.compactMap { item -> Tombstone? in
            guard let agent = item["agent"]?.stringValue, let epoch = item["epoch"]?.intValue, epoch >= 0,
                  let active = item["active"]?.boolValue else { return nil }
            // Files written before quarantine existed have no kind: `active` says kill-switch or lifted.
            let kind = item["kind"]?.stringValue.flatMap(Tombstone.Kind.init(name:)) ?? (active ? .killSwitch : .lifted)
            return Tombstone(agent: agent, epoch: UInt64(epoch), kind: kind,
                             reason: item["reason"]?.stringValue ?? "", issuedBy: item["issued_by"]?.stringValue ?? "",
                             proof: item["proof"].flatMap(Node.proof(json:)))
        }
        logger.info("tombstones_restored", ["count": .int(Int64(tombstones.count))])
        return tombstones
    }
}
