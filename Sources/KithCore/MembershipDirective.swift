/// What the membership instance asks its shell to do, or tells it happened.
public enum MembershipDirective: Hashable, Sendable {
    /// Deliver a message to the daemon listening at an endpoint.
    case send(Message, to: Endpoint)
    /// A member's status changed (`previous` is nil for a newly learned member).
    /// The shell logs it; the agent layer reacts to deaths.
    case memberChanged(Member, previous: MemberStatus?)
    /// A member's row changed without a status change (a new incarnation or
    /// meta): nothing to log, but a mirror of the table must follow.
    case memberUpdated(Member)
    /// The member's row was forgotten (reaped after the retention period).
    case memberForgotten(NodeID)
    /// A member declared this boot dead (this node refutes it next): its
    /// agents may already have been relaunched elsewhere.
    case declaredDead(incarnation: UInt32)
    /// This node refuted a suspicion of itself by raising its incarnation.
    case refuted(incarnation: UInt32)
    /// A rumour about `subject` was refused: it was not the member's own word
    /// (`what` says which kind; `from` sent it).
    case forgedRefused(what: String, subject: String, from: String, reason: String)
}
