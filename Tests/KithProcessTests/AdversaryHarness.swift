import Foundation
import KithCore

/// What tests read off `deploy/agents/adversary.py` in a lab: the heartbeat
/// of its escaped child and the outcome of each attempt it logs.
extension LabHarness {
    /// The escapee's pid, once it has written its heartbeat.
    func waitForHeartbeat(_ path: String) throws -> Int32 {
        var pid: Int32 = 0
        try waitUntil("the escapee writes \(path)") {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            pid = text.split(separator: " ").last.flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
            return pid > 0 && Pids.isAlive(pid)
        }
        return pid
    }

    /// Attempt name → outcome, from the adversary's log once it made them all.
    func waitForAttempts(_ name: String, on node: String) throws -> [String: JSON] {
        try waitUntil("\(name) made all its attempts") { agentLog(name, on: node).contains("all attempts made") }
        var attempts: [String: JSON] = [:]
        for line in agentLog(name, on: node).split(separator: "\n") where line.hasPrefix("attempt ") {
            if let record = try? JSON.parse(String(line.dropFirst("attempt ".count))), let kind = record["attempt"]?.stringValue {
                attempts[kind] = record
            }
        }
        return attempts
    }
}
