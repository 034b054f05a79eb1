/// What must hold after every input, checked loudly (debug builds and every
/// simulation): a broken rule stops the run where it broke, not far later.
extension NodeCore {
    public func assertInvariants() {
        router.assertInvariants()
        for (agent, waits) in pendingCheckpointReplies {
            precondition(!waits.isEmpty, "an empty checkpoint wait list is kept for \(agent)")
            precondition(waits.count <= Int(AgentRegistry.pendingCheckpointsMax),
                         "\(waits.count) checkpoint answers wait for \(agent), above \(AgentRegistry.pendingCheckpointsMax)")
            precondition(waits.values.allSatisfy { $0.agent == agent }, "a checkpoint answer for \(agent) names another agent")
        }
        for (name, local) in registry.local {
            precondition(registry.tombstone(of: name) == nil,
                         "a local process of \(name) gen \(local.generation) outlives the kill-switch")
            if let record = registry.records[name] {
                precondition(record.state != .killed, "a local process of \(name) runs while its record is killed")
            }
        }
        precondition(!isStopping || nextDeadline == nil, "a stopping node still asks for a timer")
        assertMembersInvariants()
    }

    /// The Instances' own checks (they also run at the end of each of their inputs).
    func assertMembersInvariants() {
        membership.assertInvariants()
        registry.assertInvariants()
    }
}
