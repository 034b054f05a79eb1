import Glibc
import KithCore
import XCTest
@testable import KithNode

/// The pure parts of containment: which cgroup hierarchies a layout offers,
/// which files set an agent's limits, the uid range, and the spec and config
/// keys that carry them.
final class CgroupTests: XCTestCase {
    private func detect(_ procSelfCgroup: String, existing: Set<String>) -> [CgroupHierarchy] {
        CgroupHierarchy.detect(procSelfCgroup: procSelfCgroup) { existing.contains($0) }
    }

    func test_detect_pureV2_underASystemdUnit_usesTheUnitsCgroup() {
        let found = detect("0::/system.slice/kithd.service\n", existing: [
            "/sys/fs/cgroup/cgroup.controllers", "/sys/fs/cgroup/cgroup.procs",
            "/sys/fs/cgroup/system.slice/kithd.service/cgroup.procs",
        ])
        XCTAssertEqual(found, [CgroupHierarchy(controller: nil, mount: "/sys/fs/cgroup", own: "/system.slice/kithd.service")])
        XCTAssertEqual(found.first?.ownDirectory, "/sys/fs/cgroup/system.slice/kithd.service")
    }

    func test_detect_aCgroupPathNotVisibleUnderTheMount_isTakenAsTheRoot() {
        // A container without its own cgroup namespace: /proc says /docker/ID, the mount shows only the container's part.
        let found = detect("0::/docker/abc\n", existing: ["/sys/fs/cgroup/cgroup.controllers", "/sys/fs/cgroup/cgroup.procs"])
        XCTAssertEqual(found, [CgroupHierarchy(controller: nil, mount: "/sys/fs/cgroup", own: "/")])
    }

    func test_detect_hybrid_usesTheUnifiedHierarchyAndTheV1Controllers() {
        let text = """
            9:name=systemd:/
            8:pids:/
            6:freezer:/
            4:memory:/process_api/38d8
            2:cpu,cpuacct:/
            0::/
            """
        let existing: Set<String> = [
            "/sys/fs/cgroup/unified/cgroup.procs", "/sys/fs/cgroup/pids/cgroup.procs", "/sys/fs/cgroup/freezer/cgroup.procs",
            "/sys/fs/cgroup/memory/cgroup.procs", "/sys/fs/cgroup/memory/process_api/38d8/cgroup.procs",
        ]
        XCTAssertEqual(detect(text, existing: existing), [
            CgroupHierarchy(controller: nil, mount: "/sys/fs/cgroup/unified", own: "/"),
            CgroupHierarchy(controller: "freezer", mount: "/sys/fs/cgroup/freezer", own: "/"),
            CgroupHierarchy(controller: "memory", mount: "/sys/fs/cgroup/memory", own: "/process_api/38d8"),
            CgroupHierarchy(controller: "pids", mount: "/sys/fs/cgroup/pids", own: "/"),
        ])
    }

    func test_detect_v1Only_andNothingMounted() {
        let text = "8:pids:/a\n6:freezer:/a\n"
        XCTAssertEqual(detect(text, existing: ["/sys/fs/cgroup/pids/cgroup.procs", "/sys/fs/cgroup/pids/a/cgroup.procs"]),
                       [CgroupHierarchy(controller: "pids", mount: "/sys/fs/cgroup/pids", own: "/a")],
                       "an unmounted freezer is left out")
        XCTAssertEqual(detect(text, existing: []), [])
        XCTAssertEqual(detect("garbage\n::\n", existing: ["/sys/fs/cgroup/cgroup.controllers"]), [], "no cgroup.procs, no hierarchy")
    }

    func test_limitFiles_followTheHierarchyAndItsControllers() {
        var limits = ResourceLimits()
        let v2 = CgroupHierarchy(controller: nil, mount: "/sys/fs/cgroup", own: "/")
        XCTAssertEqual(Containment.limitFiles(v2, limits, controllers: ["pids", "memory"]).map { "\($0.0)=\($0.1)" },
                       ["pids.max=128", "memory.max=536870912"])
        XCTAssertEqual(Containment.limitFiles(v2, limits, controllers: []).count, 0, "hybrid: v2 carries no limits")
        limits.processesMax = 0
        limits.memoryBytesMax = 0
        XCTAssertEqual(Containment.limitFiles(v2, limits, controllers: ["pids", "memory"]).map { "\($0.0)=\($0.1)" },
                       ["pids.max=max", "memory.max=max"])
        let memory = CgroupHierarchy(controller: "memory", mount: "/m", own: "/")
        XCTAssertEqual(Containment.limitFiles(memory, limits, controllers: []).map { "\($0.0)=\($0.1)" }, ["memory.limit_in_bytes=-1"])
        let freezer = CgroupHierarchy(controller: "freezer", mount: "/f", own: "/")
        XCTAssertEqual(Containment.limitFiles(freezer, limits, controllers: []).count, 0)
    }

    func test_withoutAnyHierarchy_containmentIsNoneAndSaysWhy() throws {
        let containment = Containment(nodeName: "t", settings: ContainmentSettings(), hierarchies: [])
        XCTAssertEqual(containment.mode, "none")
        XCTAssertEqual(containment.reason, "no cgroup hierarchy is mounted")
        XCTAssertNil(try containment.makeCgroup(for: "a", leaf: "a.1.1", limits: ResourceLimits()))
        XCTAssertEqual(containment.json["mode"], "none")
    }

    /// A hierarchy without the pids and memory controllers (a plain directory
    /// stands in for a v1 freezer): the default limits cannot be held, so the
    /// agent's start fails with a reason that says how to run it anyway.
    func test_aMissingController_failsTheAgentsStart_unlessItsLimitIsOff() throws {
        var template = Array("/tmp/kithcg-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw XCTSkip("mkdtemp failed") }
        let root = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let freezer = CgroupHierarchy(controller: "freezer", mount: root, own: "/")
        let containment = Containment(nodeName: "t", settings: ContainmentSettings(), hierarchies: [freezer])
        defer {
            containment.removeNodeDirectories()
            rmdir(root + "/kith")
            rmdir(root)
        }
        XCTAssertEqual(containment.mode, "cgroup1")
        XCTAssertTrue(containment.reason.contains("no pids, memory controller"), containment.reason)
        XCTAssertThrowsError(try containment.makeCgroup(for: "a", leaf: "a.1.1", limits: ResourceLimits())) { error in
            XCTAssertTrue("\(error)".contains("no pids controller") && "\(error)".contains("max_processes: 0"), "\(error)")
        }
        var unlimited = ResourceLimits()
        unlimited.processesMax = 0
        XCTAssertThrowsError(try containment.makeCgroup(for: "a", leaf: "a.1.2", limits: unlimited)) { error in
            XCTAssertTrue("\(error)".contains("no memory controller"), "\(error)")
        }
        unlimited.memoryBytesMax = 0
        let cgroup = try XCTUnwrap(try containment.makeCgroup(for: "a", leaf: "a.1.3", limits: unlimited))
        XCTAssertEqual(cgroup.procsFiles, ["\(root)/kith/t.\(getpid())/a.1.3/cgroup.procs"])
        XCTAssertTrue(cgroup.remove())
    }

    func test_uids_areStablePerAgent_distinct_andBoundedByTheRange() throws {
        var settings = ContainmentSettings()
        settings.agentUIDBase = 50_000
        settings.agentUIDCount = 2
        let containment = Containment(nodeName: "t", settings: settings, hierarchies: [])
        let a = try containment.uid(for: "a")
        XCTAssertEqual(try containment.uid(for: "a"), a, "the same agent keeps its uid")
        let b = try containment.uid(for: "b")
        XCTAssertNotEqual(a, b)
        XCTAssertTrue([a, b].allSatisfy { (50_000..<50_002).contains($0) })
        XCTAssertThrowsError(try containment.uid(for: "c"), "a third agent finds the range exhausted") { error in
            XCTAssertTrue("\(error)".contains("exhausted"), "\(error)")
        }
        containment.releaseUID(of: "a")
        XCTAssertEqual(try containment.uid(for: "c"), a, "a released uid is given again")
    }

    func test_specKeys_setResourceLimits_andRejectNonsense() throws {
        let defaults = try AgentSpec(config: ["name": "a", "command": "/bin/true"])
        XCTAssertEqual(defaults.resources, ResourceLimits())
        XCTAssertEqual(defaults.resources.processesMax, 128)
        XCTAssertEqual(defaults.resources.memoryBytesMax, 512 << 20)
        XCTAssertEqual(defaults.resources.openFilesMax, 1024)
        let set = try AgentSpec(config: ["name": "a", "command": "/bin/true", "max_processes": 16, "memory_mb": 64,
                                         "max_open_files": 256])
        XCTAssertEqual(set.resources.processesMax, 16)
        XCTAssertEqual(set.resources.memoryBytesMax, 64 << 20)
        XCTAssertEqual(set.resources.openFilesMax, 256)
        XCTAssertEqual(try AgentSpec(config: ["name": "a", "command": "c", "memory_bytes": 1000]).resources.memoryBytesMax, 1000)
        XCTAssertTrue(defaults.resources.hasNetwork)
        XCTAssertFalse(try AgentSpec(config: ["name": "a", "command": "c", "network": "none"]).resources.hasNetwork)
        for bad: JSON in [["max_processes": -1], ["max_processes": "many"], ["memory_mb": 1, "memory_bytes": 1],
                          ["memory_mb": -5], ["max_open_files": 3], ["max_open_files": 10_000_000], ["network": "lan"], ["network": false]] {
            var object = bad.objectValue ?? [:]
            object["name"] = "a"
            object["command"] = "c"
            XCTAssertThrowsError(try AgentSpec(config: .object(object)), "\(bad) must be refused")
        }
    }

    func test_configKeys_setTheUIDRange_andRejectUnsafeOnes() throws {
        func parse(_ extra: String) throws -> NodeConfig {
            try NodeConfig.parse(arguments: ["--config", "c.json"]) { _ in
                #"{"name":"n","listen":"127.0.0.1:1","control":"127.0.0.1:2"\#(extra)}"#
            }
        }
        let config = try parse(#","agent_uid_base":200000,"agent_uid_count":10"#)
        XCTAssertEqual(config.containment.agentUIDBase, 200_000)
        XCTAssertEqual(config.containment.agentUIDCount, 10)
        XCTAssertEqual(try parse("").containment, ContainmentSettings())
        XCTAssertThrowsError(try parse(#","agent_uid_base":0"#), "uid 0 is root")
        XCTAssertThrowsError(try parse(#","agent_uid_base":999"#), "below 1000 are system and login uids")
        XCTAssertThrowsError(try parse(#","agent_uid_base":4294967000,"agent_uid_count":1000"#), "the range would wrap")
        XCTAssertThrowsError(try parse(#","agent_uid_count":"lots""#))
    }

    func test_agentDirectory_andSocket_lieBesideTheDataDir() {
        var config = NodeConfig()
        config.name = "n1"
        config.dataDir = "/var/lib/kith"
        XCTAssertEqual(config.agentDirectory, "/var/lib/kith-agents")
        XCTAssertEqual(config.agentSocketPath, "/var/lib/kith-agents/agents.sock")
    }
}
