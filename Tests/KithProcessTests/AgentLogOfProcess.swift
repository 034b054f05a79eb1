import Foundation

/// The agent log (`DATA/agents/NAME.log`) a process's output goes to, from the `KITH_LOG` its daemon
/// started it with (and that whatever it starts inherits): how tests tell a lab's agent processes
/// apart from everyone else's. Nil for any other process.
func agentLogOfProcess(_ pid: Int32) -> String? {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
    let key = Array("KITH_LOG=".utf8)
    for entry in data.split(separator: 0) where entry.starts(with: key) {
        return String(decoding: entry.dropFirst(key.count), as: UTF8.self)
    }
    return nil
}
