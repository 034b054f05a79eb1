#if canImport(Glibc)
import Glibc
#endif
import KithCore

/// How kithd fences its agents: a cgroup per agent process started (in every
/// hierarchy it can write), and when it runs as root an unprivileged uid per
/// agent. Detected once at start; if no cgroup can be made the daemon still
/// runs, but says `containment: none` and why (then only the process group
/// fences an agent, and a child that calls `setsid()` escapes).
final class Containment {
    /// `cgroup2`, `hybrid` (v2 for kill and freeze, v1 for limits), `cgroup1` or `none`.
    let mode: String
    /// Why the mode is what it is (what was missing or refused).
    let reason: String
    /// Whether agents run under their own uids: kithd is root, or holds the
    /// capabilities that takes (a systemd unit's `AmbientCapabilities`).
    let dropsPrivileges: Bool
    /// Limits the cgroups can enforce: `pids` and `memory`.
    let controllers: Set<String>
    private let hierarchies: [(hierarchy: CgroupHierarchy, nodeDirectory: String)]
    /// The controllers enabled for agents in the v2 hierarchy (a hybrid layout has none there).
    private let unifiedControllers: Set<String>
    private let settings: ContainmentSettings
    private let nodeName: String
    private var uids: [String: UInt32] = [:]
    private var usedUIDs: Set<UInt32> = []

    init(nodeName: String, settings: ContainmentSettings,
         hierarchies candidates: [CgroupHierarchy] = Containment.systemHierarchies()) {
        self.nodeName = nodeName
        self.settings = settings
        dropsPrivileges = geteuid() == 0 || Containment.holdsCapabilities(Containment.uidSwitchCapabilities)
        var usable: [(CgroupHierarchy, String)] = []
        var problems: [String] = []
        var controllers: Set<String> = []
        var unifiedControllers: Set<String> = []
        for hierarchy in candidates {
            let base = hierarchy.ownDirectory + "/kith"
            Containment.removeStale(under: base, in: hierarchy)
            let nodeDirectory = base + "/\(nodeName).\(getpid())"
            if let problem = makeDirectory(nodeDirectory) {
                problems.append("\(hierarchy.label) \(base): \(problem)")
                continue
            }
            if hierarchy.isUnified {
                unifiedControllers = Containment.enableControllers(hierarchy, down: ["kith", "\(nodeName).\(getpid())"])
                controllers.formUnion(unifiedControllers)
            } else if let controller = hierarchy.controller, controller != "freezer" {
                controllers.insert(controller)
            }
            usable.append((hierarchy, nodeDirectory))
        }
        // The hierarchy that kills goes first: v2 with cgroup.kill, else the v1 freezer, else any.
        func killRank(_ entry: (CgroupHierarchy, String)) -> Int {
            if entry.0.isUnified { return access(entry.1 + "/cgroup.kill", F_OK) == 0 ? 0 : 3 }
            return entry.0.controller == "freezer" ? 1 : 2
        }
        // With cgroup.kill and cgroup.freeze in v2, the v1 freezer is one more migration per spawn for nothing.
        if usable.contains(where: { killRank($0) == 0 }), let freezer = usable.firstIndex(where: { $0.0.controller == "freezer" }) {
            rmdir(usable.remove(at: freezer).1)
        }
        hierarchies = usable.sorted { killRank($0) < killRank($1) }
        self.controllers = controllers
        self.unifiedControllers = unifiedControllers
        let unified = hierarchies.contains { $0.hierarchy.isUnified }
        let v1 = hierarchies.contains { !$0.hierarchy.isUnified }
        mode = unified && v1 ? "hybrid" : unified ? "cgroup2" : v1 ? "cgroup1" : "none"
        if hierarchies.isEmpty {
            reason = candidates.isEmpty ? "no cgroup hierarchy is mounted" : "cannot create cgroups: " + problems.joined(separator: "; ")
        } else {
            let missing = ["pids", "memory"].filter { !controllers.contains($0) }
            reason = (missing.isEmpty ? "" : "no \(missing.joined(separator: ", ")) controller; ")
                + (dropsPrivileges ? "agents run as uids \(settings.agentUIDBase)+"
                    : "agents run as kithd's uid (not root, and without CAP_SETUID, CAP_SETGID, CAP_CHOWN, CAP_KILL, CAP_SETPCAP)")
        }
    }

    /// What `status` and the `containment` event say.
    var json: JSON {
        ["mode": .string(mode), "reason": .string(reason), "own_uids": .bool(dropsPrivileges),
         "controllers": .array(controllers.sorted().map(JSON.string)),
         "cgroups": .array(hierarchies.map { .string($0.nodeDirectory) })]
    }

    var isContained: Bool { !hierarchies.isEmpty }

    /// Makes the cgroup `leaf` for one start of `agent` with its limits; a
    /// leftover of the same name is killed and reused. Nil without
    /// containment; throws a readable reason.
    func makeCgroup(for agent: String, leaf: String, limits: ResourceLimits) throws(ContainmentError) -> AgentCgroup? {
        guard isContained else { return nil }
        if limits.processesMax > 0 && !controllers.contains("pids") {
            throw ContainmentError("no pids controller to hold \(agent) to \(limits.processesMax) processes (max_processes: 0 runs it without)")
        }
        if limits.memoryBytesMax > 0 && !controllers.contains("memory") {
            throw ContainmentError("no memory controller to hold \(agent) to \(limits.memoryBytesMax) bytes (memory_mb: 0 runs it without)")
        }
        let cgroup = AgentCgroup(directories: hierarchies.map { ($0.hierarchy, $0.nodeDirectory + "/" + leaf) })
        for (hierarchy, path) in cgroup.directories {
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                let problem = String(cString: strerror(errno))
                _ = cgroup.remove()
                throw ContainmentError("cannot create cgroup \(path): \(problem)")
            }
            for (file, value) in Containment.limitFiles(hierarchy, limits, controllers: unifiedControllers) {
                if let problem = writeCgroupFile(path + "/" + file, value) {
                    _ = cgroup.remove()
                    throw ContainmentError("cannot set \(file) for \(agent): \(problem)")
                }
            }
        }
        if !cgroup.members().isEmpty { _ = cgroup.killAll(deadlineNs: monotonicNanoseconds() + 500_000_000) { _ in } }
        return cgroup
    }

    /// The agent's uid (and gid): stable for a name on this node, unique among
    /// the agents it runs, from the configured range.
    func uid(for agent: String) throws(ContainmentError) -> UInt32 {
        if let uid = uids[agent] { return uid }
        let count = UInt64(settings.agentUIDCount)
        let start = Containment.hash(nodeName + "/" + agent) % count
        for step in 0..<min(count, UInt64(usedUIDs.count) + 1) {
            let uid = settings.agentUIDBase + UInt32((start + step) % count)
            guard !usedUIDs.contains(uid) else { continue }
            uids[agent] = uid
            usedUIDs.insert(uid)
            return uid
        }
        throw ContainmentError("agent uid range \(settings.agentUIDBase)+\(settings.agentUIDCount) is exhausted")
    }

    /// Gives the uid back once no generation of the agent runs here.
    func releaseUID(of agent: String) {
        if let uid = uids.removeValue(forKey: agent) { usedUIDs.remove(uid) }
    }

    /// Removes this daemon's cgroup directories (its agents' must be gone first).
    func removeNodeDirectories() {
        for (hierarchy, directory) in hierarchies { Containment.removeTree(directory, in: hierarchy, depth: 1) }
    }

    // MARK: Helpers

    static func systemHierarchies() -> [CgroupHierarchy] {
        guard let text = try? readWholeFile("/proc/self/cgroup") else { return [] }
        return CgroupHierarchy.detect(procSelfCgroup: text) { access($0, F_OK) == 0 }
    }

    /// The control files and values that set `limits` in one hierarchy (0 = unlimited);
    /// in v2 only for the `controllers` enabled there.
    static func limitFiles(_ hierarchy: CgroupHierarchy, _ limits: ResourceLimits, controllers: Set<String>) -> [(String, String)] {
        let processes = limits.processesMax > 0 ? String(limits.processesMax) : "max"
        switch hierarchy.controller {
        case nil:
            return (controllers.contains("pids") ? [("pids.max", processes)] : [])
                + (controllers.contains("memory") ? [("memory.max", limits.memoryBytesMax > 0 ? String(limits.memoryBytesMax) : "max")] : [])
        case "pids": return [("pids.max", processes)]
        case "memory": return [("memory.limit_in_bytes", limits.memoryBytesMax > 0 ? String(limits.memoryBytesMax) : "-1")]
        default: return []
        }
    }

    /// Turns on the pids and memory controllers from this process's v2 cgroup
    /// down to the node's directory; returns those now usable there. A cgroup
    /// with processes cannot hand controllers down (v2's no-internal-process
    /// rule), so kithd moves itself into a leaf `kithd` first if it must, as a
    /// systemd unit with `Delegate=yes` expects.
    static func enableControllers(_ hierarchy: CgroupHierarchy, down path: [String]) -> Set<String> {
        var directory = hierarchy.ownDirectory
        let available = (try? readWholeFile(directory + "/cgroup.controllers")) ?? ""
        let words = Set(available.split(whereSeparator: \.isWhitespace).map(String.init))
        let wanted = ["pids", "memory"].filter { words.contains($0) }
        guard !wanted.isEmpty else { return [] }
        let line = wanted.map { "+" + $0 }.joined(separator: " ")
        if writeCgroupFile(directory + "/cgroup.subtree_control", line) != nil && hierarchy.own != "/" {
            let leaf = directory + "/kithd"
            if makeDirectory(leaf) == nil, writeCgroupFile(leaf + "/cgroup.procs", String(getpid())) == nil {
                _ = writeCgroupFile(directory + "/cgroup.subtree_control", line)
            }
        }
        for part in path.dropLast() {
            directory += "/" + part
            _ = writeCgroupFile(directory + "/cgroup.subtree_control", line)
        }
        directory += "/" + (path.last ?? "")
        _ = writeCgroupFile(directory + "/cgroup.subtree_control", line)
        let enabled = (try? readWholeFile(directory + "/cgroup.subtree_control")) ?? ""
        return Set(enabled.split(whereSeparator: \.isWhitespace).map(String.init)).intersection(wanted)
    }

    /// Cleans up after daemons that died without doing it (SIGKILL): every
    /// `NAME.PID` directory whose daemon is gone has its processes killed (the
    /// escapees of its agents) and is removed.
    static func removeStale(under base: String, in hierarchy: CgroupHierarchy) {
        for entry in directoryEntries(base) {
            guard let dot = entry.lastIndex(of: "."), let pid = Int32(entry[entry.index(after: dot)...]),
                  pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            removeTree(base + "/" + entry, in: hierarchy, depth: 1)
        }
    }

    /// Kills what is left in each child cgroup of `directory` (`depth` levels), then removes them and it.
    static func removeTree(_ directory: String, in hierarchy: CgroupHierarchy, depth: Int) {
        if depth > 0 {
            for entry in directoryEntries(directory) {
                var info = stat()
                guard stat(directory + "/" + entry, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { continue }
                removeTree(directory + "/" + entry, in: hierarchy, depth: depth - 1)
            }
        }
        _ = AgentCgroup(directories: [(hierarchy, directory)]).killAll(deadlineNs: monotonicNanoseconds() + 200_000_000) { _ in }
        rmdir(directory)
    }

    static func directoryEntries(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while names.count < 100_000, let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func hash(_ text: String) -> UInt64 {
        text.utf8.reduce(UInt64(0xCBF2_9CE4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }
}

/// Why an agent could not be contained as configured: its start fails with this.
struct ContainmentError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
