/// A command line kithctl does not understand (exit 2).
struct UsageError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// The text for `kithctl help`.
let usageText = """
    Usage: kithctl [--node HOST:PORT] COMMAND [OPTIONS]

    Talk to a running kithd:
      members [--json]           The node's membership table.
      status [--json]            The node's own status and counters.

    Agents (the cluster-wide registry, through the node):
      agents [--json]            Every agent: node, pid, generation, state, guardians, restarts.
      agent start NAME [--on NODE] [--protects A,B] [--policy P] [--max-restarts N]
                  [--restart-window-ms MS] [--max-handoffs N] [--env K=V]... [--working-dir DIR]
                  [--wait [--timeout SECONDS]] -- COMMAND [ARGS...]
                                 Start an agent on NODE (default: placement picks one). P is
                                 none (default), relaunch or relaunch-and-mask: what it wants done
                                 when an agent it protects is lost. A bare COMMAND is looked up
                                 next to kithctl, then on $PATH (agent start a1 -- kith-agent).
                                 --wait returns once the agent runs (fails if it fails).
      agent stop NAME            Stop an agent for good; it is not relaunched.
      send AGENT [--] TEXT...    Deliver TEXT to the agent as a message from "operator".

    Run a local lab of daemons on 127.0.0.1:
      lab up [--nodes N] [--dir DIR] [--kithd PATH] [--agents K [--policy P] [--kith-agent PATH]]
                                 Start N daemons (default 5) named n1..nN; they keep running.
                                 With --agents, once they converge start K kith-agents per node
                                 (nI-a1..nI-aK, policy P, default relaunch), each node's agents
                                 protecting the next node's, and wait until all run.
      lab status [--dir DIR] [--json]
                                 Each recorded daemon's pid, addresses, process state and
                                 running agents.
      lab down [--dir DIR]       Stop every daemon of the lab (SIGTERM, then SIGKILL after 3 s).
      lab kill|pause|resume|stop|start NODE [--dir DIR]
                                 SIGKILL, SIGSTOP, SIGCONT or SIGTERM one daemon, or start it
                                 again with its recorded name, ports and data directory.

    Measure and show:
      bench membership [--nodes N] [--trials T] [--idle SECONDS] [--json] [--kithd PATH]
                                 Join, crash and pause detection times, idle CPU, RSS and
                                 gossip traffic over fresh clusters (defaults: 5 nodes, 3 trials).
      bench agents [--nodes N] [--agents K] [--trials T] [--json] [--kithd PATH] [--kith-agent PATH]
                                 Local restart of a killed agent, relaunch after a node crash
                                 (SIGKILL) and after a silent failure (SIGSTOP, with its detection
                                 time) over fresh clusters with K agents per node, policy relaunch
                                 (defaults: 16 nodes, 4 agents, 5 trials).
      demo [--nodes N] [--kithd PATH]
                                 Start a lab, kill n3 and show every survivor noticing.

    Options:
      --node HOST:PORT   Control address to talk to. Default: $KITH_NODE, else the first
                         node of the default lab, else 127.0.0.1:7400.
      --dir DIR          Lab directory. Default: $KITH_LAB_DIR, else ./.kith-lab.
      --kithd PATH       The daemon binary. Default: kithd next to kithctl, else on $PATH.
      --kith-agent PATH  The reference agent. Default: kith-agent next to kithctl, else on $PATH.

    Exit status: 0 success, 1 failure (such as an unreachable node or a request the
    daemon refused, with its error), 2 bad usage.
    """
