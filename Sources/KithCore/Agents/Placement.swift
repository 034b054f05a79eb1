/// Rendezvous (highest random weight) hashing of agents onto nodes.
///
/// Every node that sees the same members picks the same target for the same
/// agent without talking to anyone, and a node's loss moves only its own
/// agents. A pure function, so guardians that share a view always agree.
public enum Placement {
    public struct Candidate: Hashable, Sendable {
        public var name: String
        public var freeSlots: Int
        public init(name: String, freeSlots: Int) {
            self.name = name
            self.freeSlots = freeSlots
        }
    }

    /// The candidate with free capacity that scores highest for `agent`.
    public static func target(for agent: String, among candidates: [Candidate]) -> String? {
        candidates.filter { $0.freeSlots > 0 }
            .max { (score(agent, $0.name), $0.name) < (score(agent, $1.name), $1.name) }?.name
    }

    /// FNV-1a over `agent \0 node`, then a SplitMix64 finaliser for spread.
    static func score(_ agent: String, _ node: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in agent.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        hash = (hash ^ 0) &* 0x100_0000_01B3
        for byte in node.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        var z = hash &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
