import XCTest
@testable import KithCore

/// The table behind a large cluster's O(1) counts and random draws, and the
/// registry view that follows it row by row instead of being rebuilt.
final class MembershipTableTests: XCTestCase {
    private func member(_ name: String, _ status: MemberStatus, uid: UInt64 = 1) -> Member {
        Member(id: MT.id(name, uid: uid), meta: MT.meta(name), status: status, incarnation: 0, changedAt: .zero)
    }

    func test_counts_shouldFollowEveryWriteAndRemoval() {
        var table = MemberTable()
        table["a"] = member("a", .alive)
        table["b"] = member("b", .suspect)
        table["c"] = member("c", .dead)
        table["d"] = member("d", .left)
        XCTAssertEqual([table.activeCount, table.deadCount, table.count], [2, 1, 4])
        table["b"]?.status = .dead
        table["c"] = nil
        XCTAssertEqual([table.activeCount, table.deadCount, table.count], [1, 1, 3])
        XCTAssertTrue(table.recounted == (table.activeCount, table.deadCount))
        table["a"] = nil
        table["b"] = nil
        table["d"] = nil
        XCTAssertEqual([table.activeCount, table.deadCount, table.count], [0, 0, 0])
    }

    func test_removal_shouldMoveTheLastRowIntoTheGapAndKeepEveryNameFindable() {
        var table = MemberTable()
        for name in ["a", "b", "c", "d"] { table[name] = member(name, .alive) }
        table["b"] = nil
        XCTAssertEqual(table.values.map(\.id.name), ["a", "d", "c"])
        for name in ["a", "c", "d"] { XCTAssertEqual(table[name]?.id.name, name) }
        XCTAssertNil(table["b"])
        table["b"] = member("b", .alive, uid: 2)
        XCTAssertEqual(table.values.map(\.id.name), ["a", "d", "c", "b"])
        XCTAssertEqual(table["b"]?.id.uid, 2)
    }

    /// Helpers come from k random draws in a large table, never this node,
    /// the target, or a member that is not alive.
    func test_helpers_shouldBeDistinctAliveOthersInALargeTable() {
        let others = (1...200).map { "n\($0)" }
        var m = MT.joined(others: others)
        m.table["n7"]?.status = .dead
        for _ in 0..<200 {
            let helpers = m.helpers(for: MT.id("n1"))
            XCTAssertEqual(helpers.count, m.settings.indirectProbes)
            XCTAssertEqual(Set(helpers.map(\.id)).count, helpers.count)
            for helper in helpers {
                XCTAssertTrue(helper.status == .alive && helper.id != m.me && helper.id.name != "n1" && helper.id.name != "n7")
            }
        }
    }

    /// Row by row, the registry's view ends where a rebuild from the whole table does.
    func test_registryViewByChanges_shouldEqualTheRebuiltView() {
        let names = AT.nodes(6)
        var byChanges = AT.registry("n1", members: AT.view(names))
        let after = AT.view(names, ["n2": .dead, "n3": .suspect, "n4": .left])
        let changed = ["n2", "n3", "n4", "n6"].map { name in (name: name, member: after.first { $0.id.name == name }.flatMap { $0.id.name == "n6" ? nil : $0 }) }
        _ = byChanges.updateView(changed: changed, now: MT.ms(5))
        var rebuilt = AT.registry("n1", members: AT.view(names))
        _ = rebuilt.updateView(after.filter { $0.id.name != "n6" }, now: MT.ms(5))
        XCTAssertEqual(byChanges.view, rebuilt.view)
        XCTAssertEqual(byChanges.goneSince, rebuilt.goneSince)
        XCTAssertTrue(byChanges.liveMembers == rebuilt.liveMembers)
        XCTAssertTrue(byChanges.liveMembers == (2, 4))
        XCTAssertNil(byChanges.checkInvariants())
    }
}
