import XCTest
@testable import KithLab

/// Which nodes a lab's daemons join through. No daemons.
final class LabSeedsTests: XCTestCase {
    private func listens(_ count: Int) -> [String] { (0..<count).map { "127.0.0.1:\(10_000 + $0)" } }

    func test_seeds_upToThePool_areTheFirstThreeOtherThanTheNodeItself() {
        let nodes = listens(LabLayout.seedPool)
        XCTAssertEqual(LabLayout.seeds(of: 0, among: nodes), Array(nodes[1...2]))
        XCTAssertEqual(LabLayout.seeds(of: 2, among: nodes), Array(nodes[0...1]))
        XCTAssertEqual(LabLayout.seeds(of: 31, among: nodes), Array(nodes[0...2]))
        XCTAssertEqual(LabLayout.seeds(of: 0, among: listens(1)), [], "a lone node joins nobody")
    }

    func test_seeds_of256_spreadTheJoinsOverThePoolAndNeverNameTheNodeItself() {
        let nodes = listens(256)
        var joins: [String: Int] = [:]
        for index in nodes.indices {
            let seeds = LabLayout.seeds(of: index, among: nodes)
            XCTAssertEqual(seeds.count, LabLayout.seedCount, "node \(index)")
            XCTAssertEqual(Set(seeds).count, seeds.count, "node \(index) names a seed twice")
            XCTAssertFalse(seeds.contains(nodes[index]), "node \(index) is its own seed")
            XCTAssert(seeds.allSatisfy { nodes.prefix(LabLayout.seedPool).contains($0) }, "node \(index) joins outside the pool")
            for seed in seeds { joins[seed, default: 0] += 1 }
        }
        XCTAssertEqual(joins.count, LabLayout.seedPool, "every pool node serves joins")
        // 768 joins over 32 nodes: 24 each, where n1..n3 used to answer 255 each.
        XCTAssertLessThanOrEqual(joins.values.max() ?? 0, 26)
        XCTAssertGreaterThanOrEqual(joins.values.min() ?? 0, 22)
    }
}
