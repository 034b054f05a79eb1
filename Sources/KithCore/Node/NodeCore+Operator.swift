/// The operator's commands, once the shell has checked the signature: the
/// target check, then each command's decision. Every command is recorded.
extension NodeCore {
    mutating func operatorCommand(_ command: OperatorCommand, target: String?, issuer: String, counter: UInt64,
                                  proof: OperatorProof?, now: Instant, into out: inout [NodeDirective]) {
        let cmd = command.name
        let ok: JSON = ["ok": true, "node": .string(me.name)]
        func answer(_ body: JSON) { out.append(.answerOperator(body)) }
        func fail(_ error: String) { answer(["ok": false, "error": .string(error)]) }
        // A command signed for one node must not be replayed to another (per-node counters cannot see that).
        if let target, target != me.name {
            out.append(.record(NodeEvent(.warn, "command_refused", ["cmd": .string(cmd),
                                                                    "reason": .string("signed for node \(target)")])))
            return fail("refused: this command was signed for node \(target), not \(me.name)")
        }
        out.append(.record(NodeEvent(.info, "operator_command", ["cmd": .string(cmd), "key": .string(issuer),
                                                                 "counter": .int(Int64(clamping: counter))])))
        switch command {
        case let .agentStart(spec, node):
            do {
                absorb(try registry.start(spec, on: node, proof: proof, now: now), now: now, into: &out)
                guard let record = registry.records[spec.name] else { return fail("not started") }
                answer(["ok": true, "agent": agentJSON(record)])
            } catch {
                fail(error.message)
            }
        case .agentStop(let name):
            do {
                absorb(try registry.stop(name, proof: proof, now: now), now: now, into: &out)
                answer(["ok": true])
            } catch {
                fail(error.message)
            }
        case .agentKill(let name):
            out.append(.crashAgent(name))
            out.append(.record(NodeEvent(.warn, "agent_killed_by_operator", ["agent": .string(name)])))
            answer(ok)
        case let .send(to, text):
            route(AgentMessage(from: "operator", to: to, payload: Array(JSON.string(text).serialized().utf8)),
                  origin: .operatorCommand, now: now, into: &out)
        case let .killSwitch(agents, epoch, reason):
            var fenced: [JSON] = []
            for agent in agents {
                let switched: [AgentDirective]
                do {
                    switched = try registry.killSwitch(agent, epoch: epoch, reason: reason, issuedBy: issuer, proof: proof, now: now)
                } catch {
                    return fail(error.message)
                }
                // The operator's act is recorded before what it causes, so a history reads in causal order.
                out.append(.record(NodeEvent(.warn, "kill_switch", ["agent": .string(agent),
                                                                    "epoch": .int(Int64(clamping: epoch)),
                                                                    "reason": .string(reason)])))
                absorb(switched, now: now, into: &out)
                // The fence: no process of this agent runs here any more.
                out.append(.fenceAgent(agent))
                fenced.append(.string(agent))
            }
            answer(["ok": true, "node": .string(me.name), "fenced": .array(fenced)])
        case let .revive(agents, epoch, placer):
            for agent in agents {
                let revived: [AgentDirective]
                do {
                    revived = try registry.revive(agent, epoch: epoch, issuedBy: issuer, proof: proof,
                                                  places: placer.map { $0 == me.name } ?? true, now: now)
                } catch {
                    return fail(error.message)
                }
                out.append(.record(NodeEvent(.warn, "revive", ["agent": .string(agent), "epoch": .int(Int64(clamping: epoch))])))
                absorb(revived, now: now, into: &out)
            }
            answer(ok)
        case let .quarantine(agents, epoch, reason):
            var held: [JSON] = []
            for agent in agents {
                let quarantined: [AgentDirective]
                do {
                    quarantined = try registry.quarantine(agent, epoch: epoch, reason: reason, issuedBy: issuer, proof: proof, now: now)
                } catch {
                    return fail(error.message)
                }
                out.append(.record(NodeEvent(.warn, "quarantine", ["agent": .string(agent), "epoch": .int(Int64(clamping: epoch)),
                                                                   "reason": .string(reason)])))
                absorb(quarantined, now: now, into: &out)
                held.append(.string(agent))
            }
            answer(["ok": true, "node": .string(me.name), "quarantined": .array(held)])
        case let .release(agents, epoch):
            for agent in agents {
                let released: [AgentDirective]
                do {
                    released = try registry.release(agent, epoch: epoch, issuedBy: issuer, proof: proof, now: now)
                } catch {
                    return fail(error.message)
                }
                out.append(.record(NodeEvent(.warn, "release", ["agent": .string(agent), "epoch": .int(Int64(clamping: epoch))])))
                absorb(released, now: now, into: &out)
            }
            answer(ok)
        case .fault(let rule):
            out.append(.setFault(rule))
            out.append(.record(NodeEvent(.warn, "fault_set", [
                "peers": .array(rule.peers.sorted().map(JSON.string)), "effect": .string("\(rule.effect)"),
                "for_ms": .int(rule.duration.nanoseconds / 1_000_000),
            ])))
            answer(ok)
        case .heal:
            out.append(.healFaults)
            out.append(.record(NodeEvent(.info, "fault_healed")))
            answer(ok)
        case .halt:
            out.append(.healFaults)
            registry.halted = true
            out.append(.record(NodeEvent(.warn, "halted", ["by": .string(issuer)])))
            answer(ok)
        case .resume:
            registry.halted = false
            out.append(.record(NodeEvent(.warn, "resumed", ["by": .string(issuer)])))
            updateRegistryView(now: now, into: &out)
            answer(ok)
        case .shutdownNode:
            out.append(.record(NodeEvent(.warn, "shutdown_requested", ["by": .string(issuer)])))
            out.append(.exitSelf(graceful: true))
            answer(ok)
        case .killNode:
            out.append(.record(NodeEvent(.warn, "kill_requested", ["by": .string(issuer)])))
            out.append(.exitSelf(graceful: false))
            answer(ok)
        case .pauseNode(let duration):
            out.append(.pauseSelf(duration))
            out.append(.record(NodeEvent(.warn, "pause_requested", ["by": .string(issuer),
                                                                    "for_ms": .int(duration.nanoseconds / 1_000_000)])))
            answer(ok)
        case let .keyring(cmd, request):
            out.append(.changeKeyring(cmd: cmd, request: request))
        case .invalid(_, let error):
            fail(error)
        }
    }
}
