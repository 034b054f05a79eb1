/// A relaunched (or revived, or restarted-elsewhere) agent starts from the
/// newest checkpoint any live member holds, not only from what this node
/// holds: a node restarted moments ago holds none yet, and one that missed
/// replicas under loss holds an older one, and starting from it would lose
/// an acknowledged checkpoint. So the first process of a later generation
/// on a node waits: the node asks every live member (`checkpointFetch`),
/// each answers with what it holds (`checkpointOffer`, none included), and
/// the process starts once all have answered or `checkpointFetchTimeout`
/// has passed. A generation-1 start has nothing to fetch and starts at once.
extension AgentRegistry {
    /// Starts the first process of `record` on this node, after a fetch when
    /// there is anyone to ask. `local[record.name]` is already set.
    mutating func startFirstProcess(of record: AgentRecord, now: Instant, into directives: inout [AgentDirective]) {
        let others = aliveOthers
        guard record.generation > 1, !others.isEmpty else {
            directives.append(.spawn(record, checkpoint: checkpoints[record.name]))
            return
        }
        // Down until the offers are in: `restartAt` makes every rule treat it as a process not running yet,
        // and `tick` starts it at the timeout with whatever arrived.
        local[record.name]?.restartAt = now + checkpointFetchTimeout
        local[record.name]?.awaitingOffers = Set(others.map(\.id.name))
        for member in others {
            directives.append(.send(.checkpointFetch(from: me, agent: record.name), to: member.meta.endpoint))
        }
    }

    /// A member asks for our checkpoint of `agent`: answered to its endpoint
    /// in our view, so a forged request cannot aim the answer elsewhere.
    func answerFetch(of agent: String, from peer: NodeID) -> [AgentDirective] {
        guard peer != me, let member = view[peer.name], member.id == peer, member.status.isActive,
              records[agent] != nil else { return [] }
        return [.send(.checkpointOffer(from: me, agent: agent, checkpoint: checkpoints[agent]), to: member.meta.endpoint)]
    }

    /// An answer to our fetch: a checkpoint its host signed is kept if newer;
    /// the last answer starts the process.
    mutating func receiveOffer(of agent: String, checkpoint: Checkpoint?, from peer: NodeID, now: Instant) -> [AgentDirective] {
        guard var waiting = local[agent], waiting.awaitingOffers.remove(peer.name) != nil else { return [] }
        var directives: [AgentDirective] = []
        if let checkpoint {
            if let reason = offerProblem(checkpoint, of: agent) {
                refuse("checkpoint", agent: agent, from: peer.name, reason: reason, into: &directives)
            } else {
                _ = store(checkpoint, of: agent)
            }
        }
        local[agent] = waiting
        if waiting.awaitingOffers.isEmpty, waiting.restartAt != nil, let record = records[agent], isMine(record),
           record.state.wantsProcess, record.generation == waiting.generation, !holdsFencedRestart(of: agent) {
            local[agent]?.restartAt = nil
            directives.append(.spawn(record, checkpoint: checkpoints[agent]))
        }
        return directives
    }

    /// Nil when an offered checkpoint may be kept: signed by its host, whose key this node knows.
    private func offerProblem(_ checkpoint: Checkpoint, of agent: String) -> String? {
        guard view[checkpoint.host].map({ !$0.meta.key.isEmpty }) == true else {
            return "no key known for \(checkpoint.host.isEmpty ? "an unnamed host" : checkpoint.host)"
        }
        return checkpointProblem(checkpoint, of: agent)
    }
}
