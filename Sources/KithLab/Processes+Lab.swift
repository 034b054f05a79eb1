import Glibc

extension Processes {
    /// The teardown shared by `Cluster` and `ScenarioLab`: SIGKILLs and reaps every launched daemon
    /// (SIGCONT first, so a paused one goes too), then kills any agent process left under `directory`.
    package static func killLab(_ nodes: [LabNode], directory: String) {
        for node in nodes where node.pid > 0 {
            kill(node.pid, SIGCONT)
            kill(node.pid, SIGKILL)
            waitpid(node.pid, nil, 0)
        }
        killAgents(under: directory)
    }
}
