import KithCore
import KithCrypto

/// Kill-switch tombstones on disk: a daemon restarted from its data dir
/// refuses to relaunch a switched-off agent before it has heard anyone.
extension Node {
    static func tombstonePath(dataDir: String) -> String { dataDir + "/tombstones.json" }

    func persist(_ tombstones: [Tombstone]) {
        let path = Node.tombstonePath(dataDir: config.effectiveDataDir)
        let json = JSON.array(tombstones.map { tombstone in
            ["agent": .string(tombstone.agent), "epoch": .int(Int64(clamping: tombstone.epoch)),
             "active": .bool(tombstone.active), "reason": .string(tombstone.reason),
             "issued_by": .string(tombstone.issuedBy)]
        })
        do {
            try KeyFile.write(json.serialized(pretty: true) + "\n", to: path)
        } catch {
            logger.error("tombstones_not_persisted", ["path": .string(path), "error": .string(error.description)])
        }
    }

    /// Reads tombstones an earlier run persisted; a damaged file is reported, never ignored silently.
    static func restoreTombstones(path: String, logger: Logger) -> [Tombstone] {
        guard let text = try? readWholeFile(path) else { return [] }
        guard let list = (try? JSON.parse(text))?.arrayValue else {
            logger.error("tombstones_unreadable", ["path": .string(path)])
            return []
        }
        let tombstones = list.compactMap { item -> Tombstone? in
            guard let agent = item["agent"]?.stringValue, let epoch = item["epoch"]?.intValue, epoch >= 0,
                  let active = item["active"]?.boolValue else { return nil }
            return Tombstone(agent: agent, epoch: UInt64(epoch), active: active,
                             reason: item["reason"]?.stringValue ?? "", issuedBy: item["issued_by"]?.stringValue ?? "")
        }
        logger.info("tombstones_restored", ["count": .int(Int64(tombstones.count))])
        return tombstones
    }
}
