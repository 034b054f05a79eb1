#if canImport(Glibc)
import Glibc
#endif

/// Quarantine's freeze: every process of an agent stops where it is, memory
/// and all, without being killed, so it can be inspected and later thawed.
extension AgentCgroup {
    /// Freezes (or thaws) the whole cgroup: `cgroup.freeze` in the unified
    /// hierarchy, else the v1 freezer's `freezer.state`. Returns which file
    /// did it, or nil when no hierarchy in use can freeze (the caller falls
    /// back to signals).
    func setFrozen(_ frozen: Bool) -> String? {
        for (hierarchy, path) in directories {
            if hierarchy.isUnified, access(path + "/cgroup.freeze", W_OK) == 0,
               writeCgroupFile(path + "/cgroup.freeze", frozen ? "1" : "0") == nil {
                return "cgroup.freeze"
            }
            if hierarchy.controller == "freezer",
               writeCgroupFile(path + "/freezer.state", frozen ? "FROZEN" : "THAWED") == nil {
                return "freezer.state"
            }
        }
        return nil
    }
}
