#if canImport(Glibc)
import Glibc
#endif

/// One mounted cgroup hierarchy kithd can make agent cgroups in: the v2
/// (unified) one, or a v1 hierarchy of one controller (pids, memory, freezer).
/// Fencing by cgroup rather than by process group is what catches an agent's
/// child that left its group with `setsid()`.
struct CgroupHierarchy: Hashable, Sendable {
    /// nil for the v2 hierarchy, else the v1 controller it carries.
    var controller: String?
    /// Where it is mounted, e.g. `/sys/fs/cgroup/pids`.
    var mount: String
    /// This process's cgroup in it, from /proc/self/cgroup (`/` at the root).
    var own: String

    var isUnified: Bool { controller == nil }
    var ownDirectory: String { own == "/" ? mount : mount + own }
    var label: String { controller.map { "v1 " + $0 } ?? "v2" }

    /// The hierarchies worth using, from the text of /proc/self/cgroup and
    /// which files exist: pure v2 when `/sys/fs/cgroup/cgroup.controllers`
    /// exists (Debian with systemd), else the hybrid or v1 layout (the v2
    /// hierarchy at `/sys/fs/cgroup/unified`, v1 controllers beside it). A
    /// cgroup path that is not visible under the mount (a container without
    /// its own cgroup namespace) is taken as the mount's root.
    static func detect(procSelfCgroup: String, root: String = "/sys/fs/cgroup",
                       exists: (String) -> Bool) -> [CgroupHierarchy] {
        var unifiedPath: String?
        var v1Paths: [String: String] = [:]
        for line in procSelfCgroup.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let path = String(fields[2])
            if fields[0] == "0" && fields[1].isEmpty {
                unifiedPath = path
            } else {
                for controller in fields[1].split(separator: ",") where wanted.contains(String(controller)) {
                    v1Paths[String(controller)] = path
                }
            }
        }
        func hierarchy(_ controller: String?, mount: String, own: String) -> CgroupHierarchy? {
            guard exists(mount + "/cgroup.procs") else { return nil }
            let candidate = CgroupHierarchy(controller: controller, mount: mount, own: own)
            return exists(candidate.ownDirectory + "/cgroup.procs") ? candidate
                : CgroupHierarchy(controller: controller, mount: mount, own: "/")
        }
        if exists(root + "/cgroup.controllers") {
            return [hierarchy(nil, mount: root, own: unifiedPath ?? "/")].compactMap { $0 }
        }
        var found: [CgroupHierarchy] = []
        if let unifiedPath, let unified = hierarchy(nil, mount: root + "/unified", own: unifiedPath) { found.append(unified) }
        for controller in wanted.sorted() {
            guard let path = v1Paths[controller], let v1 = hierarchy(controller, mount: root + "/" + controller, own: path)
            else { continue }
            found.append(v1)
        }
        return found
    }

    /// The v1 controllers kithd uses: limits (pids, memory) and a race-free kill (freezer).
    static let wanted: Set<String> = ["pids", "memory", "freezer"]
}

/// One agent generation's cgroup: a directory of the same name in each
/// hierarchy in use. Every method is synchronous and bounded: cgroup files
/// answer at once, and a SIGKILLed process leaves its cgroup within
/// milliseconds (a zombie is no longer listed).
struct AgentCgroup: Sendable {
    /// The agent's directory in each hierarchy, the one to kill by first.
    var directories: [(hierarchy: CgroupHierarchy, path: String)]

    /// The files a process writes its pid to, to join this cgroup in every hierarchy.
    var procsFiles: [String] { directories.map { $0.path + "/cgroup.procs" } }

    /// Pids of every process in it, read from the hierarchy that kills (zombies excluded).
    func members() -> [Int32] {
        guard let first = directories.first, let text = try? readWholeFile(first.path + "/cgroup.procs") else { return [] }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    /// SIGKILLs every process in the cgroup, again and again until none is
    /// left or `deadlineNs` (CLOCK_MONOTONIC) passes; `seen` is told about each
    /// pid the first time it shows, before it is killed, so it can be described.
    /// Returns whether the cgroup is empty.
    func killAll(deadlineNs: UInt64, seen: (Int32) -> Void) -> Bool {
        guard let (hierarchy, path) = directories.first else { return true }
        var known: Set<Int32> = []
        for round in 0..<Self.killRoundsMax {
            let pids = members()
            if pids.isEmpty { return true }
            for pid in pids where known.insert(pid).inserted { seen(pid) }
            if round > 0 && monotonicNanoseconds() >= deadlineNs { return false }
            if hierarchy.isUnified {
                // cgroup.kill (Linux 5.14) kills the whole cgroup at once, forks in flight included.
                if writeCgroupFile(path + "/cgroup.kill", "1") != nil { signalEach(pids) }
            } else if hierarchy.controller == "freezer" {
                // Frozen, nothing forks between reading the list and killing it; the kills land on thaw.
                _ = writeCgroupFile(path + "/freezer.state", "FROZEN")
                for _ in 0..<50 where (try? readWholeFile(path + "/freezer.state"))?.hasPrefix("FROZEN") != true { usleep(200) }
                signalEach(members())
                _ = writeCgroupFile(path + "/freezer.state", "THAWED")
            } else {
                signalEach(pids)  // no kill or freeze here: repeat until a round finds none
            }
            usleep(round < 20 ? 200 : 2000)
        }
        return members().isEmpty
    }

    /// Removes its directories; false if one is still in use (a process is left).
    func remove() -> Bool {
        var removed = true
        for (_, path) in directories where rmdir(path) != 0 && errno != ENOENT { removed = false }
        return removed
    }

    private func signalEach(_ pids: [Int32]) {
        for pid in pids { kill(pid, SIGKILL) }
    }

    /// Bounds the kill loop even if the clock were stuck.
    static let killRoundsMax = 2000
}

/// Writes `text` to a cgroup control file; nil on success, else why not.
func writeCgroupFile(_ path: String, _ text: String) -> String? {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return "\(path): \(String(cString: strerror(errno)))" }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    return written == bytes.count ? nil : "\(path): \(String(cString: strerror(errno)))"
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
