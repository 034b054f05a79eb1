/// The membership table: rows in a deterministic order with an index by
/// name, and running counts of active and dead rows.
///
/// A dictionary alone iterates in a per-process order, so every walk had to
/// sort the whole table, and counting the live members walked it too: at
/// 10,000 members those O(N log N) walks, once per message, were most of a
/// simulation's time. Rows here stay in insertion order (a removal moves
/// the last row into the gap), so a walk needs no sort, `count(where:)`
/// questions the protocol asks per message are O(1), and a random row is one
/// draw.
struct MemberTable: Sendable {
    private(set) var rows: [Member] = []
    /// The name each row is filed under (normally its member's name).
    private var names: [String] = []
    private var index: [String: Int] = [:]
    /// Rows that are alive or suspect.
    private(set) var activeCount = 0
    /// Rows that are dead.
    private(set) var deadCount = 0

    var count: Int { rows.count }
    /// Every row, in the table's order.
    var values: [Member] { rows }

    subscript(name: String) -> Member? {
        get { index[name].map { rows[$0] } }
        set {
            if let i = index[name] {
                uncount(rows[i])
                if let newValue {
                    rows[i] = newValue
                    count(newValue)
                } else {
                    remove(at: i)
                }
            } else if let newValue {
                index[name] = rows.count
                rows.append(newValue)
                names.append(name)
                count(newValue)
            }
        }
    }

    /// Each row with the name it is filed under, in the table's order.
    var entries: Zip2Sequence<[String], [Member]> { zip(names, rows) }

    /// Counts rows again from scratch, for the invariant checker.
    var recounted: (active: Int, dead: Int) {
        (rows.count { $0.status.isActive }, rows.count { $0.status == .dead })
    }

    private mutating func remove(at i: Int) {
        let last = rows.count - 1
        index[names[i]] = nil
        if i != last {
            rows.swapAt(i, last)
            names.swapAt(i, last)
            index[names[i]] = i
        }
        rows.removeLast()
        names.removeLast()
    }

    private mutating func count(_ member: Member) {
        if member.status.isActive { activeCount += 1 } else if member.status == .dead { deadCount += 1 }
    }

    private mutating func uncount(_ member: Member) {
        if member.status.isActive { activeCount -= 1 } else if member.status == .dead { deadCount -= 1 }
    }
}
