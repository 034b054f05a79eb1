import Dispatch
import Synchronization

/// Waiting until daemons see each other alive, asking few of them at a time: each `members` answer
/// lists the whole table, and asking all of a 256-node lab every 20 ms loaded the very daemons whose
/// join was being timed.
package enum Convergence {
    /// Observers asked at once in each round.
    static let batch = 8

    /// Waits until every node of `observers` lists every node of `subjects` alive. Each round asks only
    /// the first `batch` observers not yet seen there (concurrently); `check` runs each round to fail early.
    package static func wait(observers: [LabNode], seeing subjects: [LabNode], timeout: Double,
                             check: () throws -> Void = {}) throws {
        var done: Set<String> = []
        var lastSeen: [String: String] = [:]
        try Waiting.poll(every: 20, timeout: timeout, "the nodes did not all see each other alive within \(Int(timeout)) s: "
                         + "\(done.count) of \(observers.count) did; "
                         + observers.filter { !done.contains($0.name) }.prefix(batch)
                             .map { "\($0.name) \(lastSeen[$0.name] ?? "did not answer")" }.joined(separator: "; ")) {
            try check()
            let asked = Array(observers.filter { !done.contains($0.name) }.prefix(batch))
            let seen = Mutex<[String: Int]>([:])
            DispatchQueue.concurrentPerform(iterations: asked.count) { index in
                guard let states = Views.states(at: asked[index].control, timeoutMilliseconds: 500) else { return }
                let alive = subjects.count { states[$0.name] == "alive" }
                seen.withLock { $0[asked[index].name] = alive }
            }
            for (name, alive) in seen.withLock({ $0 }) {
                lastSeen[name] = "sees \(alive) of \(subjects.count) alive"
                if alive == subjects.count { done.insert(name) }
            }
            return done.count == observers.count ? () : nil
        }
    }
}
