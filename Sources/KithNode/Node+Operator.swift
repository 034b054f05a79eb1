#if canImport(Glibc)
import Glibc
#endif
import KithCore
import KithUV

/// The operator's commands, obeyed only once `answer` has checked the signature.
extension Node {
    func answerOperator(_ cmd: String, _ request: JSON, issuer: String) -> JSON {
        switch cmd {
        case "agent_start": return startAgent(request)
        case "agent_stop":
            guard let name = request["name"]?.stringValue else { return failure("agent_stop needs \"name\"") }
            return attempt { () throws(AgentError) in performAgents(try registry.stop(name, now: now)) }
        case "agent_kill":
            guard let name = request["name"]?.stringValue else { return failure("agent_kill needs \"name\"") }
            guard supervisor.crash(name) else { return failure("agent \(name) is not running here") }
            logger.record(.warn, "agent_killed_by_operator", ["agent": .string(name)])
            return ["ok": true, "node": .string(config.name)]
        case "send":
            guard let to = request["to"]?.stringValue, let text = request["text"]?.stringValue else {
                return failure("send needs \"to\" and \"text\"")
            }
            if let error = route(from: "operator", to: to, payload: Array(JSON.string(text).serialized().utf8)) {
                return failure(error)
            }
            return ["ok": true]
        case "kill_switch": return killSwitch(request, issuedBy: issuer)
        case "revive": return revive(request, issuedBy: issuer)
        case "fault": return setFault(request)
        case "heal":
            faults.heal()
            logger.record(.info, "fault_healed")
            return ["ok": true, "node": .string(config.name)]
        case "halt":
            faults.heal()
            registry.halted = true
            logger.record(.warn, "halted", ["by": .string(issuer)])
            return ["ok": true, "node": .string(config.name)]
        case "resume":
            registry.halted = false
            logger.record(.warn, "resumed", ["by": .string(issuer)])
            performAgents(registry.updateView(membership.members, now: now))
            return ["ok": true, "node": .string(config.name)]
        case "shutdown_node":
            logger.record(.warn, "shutdown_requested", ["by": .string(issuer)])
            afterReply { raise(SIGTERM) }
            return ["ok": true, "node": .string(config.name)]
        case "kill_node":
            logger.record(.warn, "kill_requested", ["by": .string(issuer)])
            afterReply { raise(SIGKILL) }
            return ["ok": true, "node": .string(config.name)]
        case "pause_node": return pauseSelf(request, issuer: issuer)
        case "keys_install", "keys_use", "keys_remove": return changeKeyring(cmd, request)
        default: return failure("unknown command '\(cmd)'")
        }
    }

    func failure(_ message: String) -> JSON { ["ok": false, "error": .string(message)] }

    private func attempt(_ body: () throws(AgentError) -> Void) -> JSON {
        do {
            try body()
            return ["ok": true]
        } catch {
            return failure(error.message)
        }
    }

    /// Runs `action` once the reply has had time to leave (a self-kill must not eat its own answer).
    private func afterReply(_ action: @escaping () -> Void) {
        let timer = Timer(loop: loop)
        timer.start(afterMilliseconds: 50) {
            timer.close()
            action()
        }
    }

    /// `fault` with `block`, `loss` + `percent`, or `delay` + `ms` [+ `jitter_ms`], and `for_ms`.
    private func setFault(_ request: JSON) -> JSON {
        guard let duration = request["for_ms"]?.intValue, duration > 0 else { return failure("fault needs \"for_ms\" > 0") }
        let names: (String) -> Set<String>? = { key in
            guard let list = request[key]?.arrayValue?.compactMap(\.stringValue), !list.isEmpty else { return nil }
            return Set(list)
        }
        let effect: FaultFilter.Effect
        let peers: Set<String>
        if let blocked = names("block") {
            (effect, peers) = (.drop, blocked)
        } else if let lossy = names("loss") {
            guard let percent = request["percent"]?.doubleValue, percent > 0, percent <= 100 else {
                return failure("loss needs \"percent\" in (0, 100]")
            }
            (effect, peers) = (.loss(percent: percent), lossy)
        } else if let slow = names("delay") {
            guard let ms = request["ms"]?.intValue, ms > 0, ms <= 600_000 else { return failure("delay needs \"ms\" in 1...600000") }
            let jitter = max(0, min(request["jitter_ms"]?.intValue ?? 0, 600_000))
            (effect, peers) = (.delay(ms: UInt64(ms), jitterMs: UInt64(jitter)), slow)
        } else {
            return failure("fault needs \"block\", \"loss\" or \"delay\" with a list of node names")
        }
        faults.add(effect, to: peers, forMs: UInt64(duration), nowMs: loop.nowMilliseconds)
        logger.record(.warn, "fault_set", ["peers": .array(peers.sorted().map(JSON.string)),
                                           "effect": .string("\(effect)"), "for_ms": .int(duration)])
        return ["ok": true, "node": .string(config.name)]
    }

    /// SIGSTOP itself, with a detached helper process to SIGCONT it later:
    /// a paused daemon cannot wake itself.
    private func pauseSelf(_ request: JSON, issuer: String) -> JSON {
        guard let duration = request["for_ms"]?.intValue, duration > 0, duration <= 3_600_000 else {
            return failure("pause_node needs \"for_ms\" in 1...3600000")
        }
        let seconds = String(format3(Double(duration) / 1000))
        let options = SpawnOptions(executable: "/bin/sh", arguments: ["-c", "sleep \(seconds); kill -CONT \(getpid())"],
                                   environment: ["PATH": "/usr/bin:/bin"], newProcessGroup: true)
        do {
            _ = try ChildProcess.spawn(loop: loop, options: options) { _, _ in }
        } catch {
            return failure("cannot arrange the wake-up: \(error)")
        }
        logger.record(.warn, "pause_requested", ["by": .string(issuer), "for_ms": .int(duration)])
        afterReply { raise(SIGSTOP) }
        return ["ok": true, "node": .string(config.name)]
    }

    private func format3(_ value: Double) -> String {
        let millis = Int((value * 1000).rounded())
        let fraction = String(millis % 1000)
        return "\(millis / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
