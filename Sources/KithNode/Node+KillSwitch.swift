import KithCore
import KithCrypto

/// Kill-switch tombstones on disk: a daemon restarted from its data dir
/// refuses to relaunch a switched-off agent before it has heard anyone.
extension Node {
    var tombstonePath: String { config.effectiveDataDir + "/tombstones.json" }

    func persist(_ tombstones: [Tombstone]) {
        let json = JSON.array(tombstones.map { tombstone in
            ["agent": .string(tombstone.agent), "epoch": .int(Int64(clamping: tombstone.epoch)),
             "active": .bool(tombstone.active), "reason": .string(tombstone.reason),
             "issued_by": .string(tombstone.issuedBy)]
        })
        do {
            try KeyFile.write(json.serialized(pretty: true) + "\n", to: tombstonePath)
        } catch {
            logger.error("tombstones_not_persisted", ["path": .string(tombstonePath), "error": .string(error.description)])
        }
    }

    /// Reads tombstones an earlier run persisted; a damaged file is reported, never ignored silently.
    func restoreTombstones() {
        guard let text = try? readWholeFile(tombstonePath) else { return }
        guard let list = (try? JSON.parse(text))?.arrayValue else {
            logger.error("tombstones_unreadable", ["path": .string(tombstonePath)])
            return
        }
        let tombstones = list.compactMap { item -> Tombstone? in
            guard let agent = item["agent"]?.stringValue, let epoch = item["epoch"]?.intValue, epoch >= 0,
                  let active = item["active"]?.boolValue else { return nil }
            return Tombstone(agent: agent, epoch: UInt64(epoch), active: active,
                             reason: item["reason"]?.stringValue ?? "", issuedBy: item["issued_by"]?.stringValue ?? "")
        }
        registry.restore(tombstones: tombstones)
        logger.info("tombstones_restored", ["count": .int(Int64(tombstones.count))])
    }

    /// `{"cmd":"kill_switch","agents":[..],"epoch":E,"reason":R}`: fence and tombstone each agent.
    func killSwitch(_ request: JSON, issuedBy: String) -> JSON {
        guard let agents = request["agents"]?.arrayValue?.compactMap(\.stringValue), !agents.isEmpty,
              let epoch = request["epoch"]?.intValue, epoch > 0 else {
            return ["ok": false, "error": "kill_switch needs \"agents\": [names] and \"epoch\" > 0"]
        }
        let reason = request["reason"]?.stringValue ?? "operator kill-switch"
        var fenced: [JSON] = []
        for agent in agents {
            do {
                performAgents(try registry.killSwitch(agent, epoch: UInt64(epoch), reason: reason, issuedBy: issuedBy, now: now))
            } catch {
                return ["ok": false, "error": .string(error.message)]
            }
            // The fence: no process of this agent runs here any more.
            supervisor.killGroupNow(agent)
            fenced.append(.string(agent))
            logger.record(.warn, "kill_switch", ["agent": .string(agent), "epoch": .int(epoch), "reason": .string(reason)])
        }
        return ["ok": true, "node": .string(config.name), "fenced": .array(fenced)]
    }

    func revive(_ request: JSON, issuedBy: String) -> JSON {
        guard let agents = request["agents"]?.arrayValue?.compactMap(\.stringValue), !agents.isEmpty,
              let epoch = request["epoch"]?.intValue, epoch > 0 else {
            return ["ok": false, "error": "revive needs \"agents\": [names] and \"epoch\" > 0"]
        }
        for agent in agents {
            do {
                performAgents(try registry.revive(agent, epoch: UInt64(epoch), issuedBy: issuedBy, now: now))
                logger.record(.warn, "revive", ["agent": .string(agent), "epoch": .int(epoch)])
            } catch {
                return ["ok": false, "error": .string(error.message)]
            }
        }
        return ["ok": true, "node": .string(config.name)]
    }
}
