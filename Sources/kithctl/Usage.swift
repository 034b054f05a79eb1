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

    Run a local lab of daemons on 127.0.0.1:
      lab up [--nodes N] [--dir DIR] [--kithd PATH]
                                 Start N daemons (default 5) named n1..nN; they keep running.
      lab status [--dir DIR] [--json]
                                 Each recorded daemon's pid, addresses and process state.
      lab down [--dir DIR]       Stop every daemon of the lab (SIGTERM, then SIGKILL after 3 s).
      lab kill|pause|resume|stop|start NODE [--dir DIR]
                                 SIGKILL, SIGSTOP, SIGCONT or SIGTERM one daemon, or start it
                                 again with its recorded name, ports and data directory.

    Measure and show:
      bench membership [--nodes N] [--trials T] [--idle SECONDS] [--json] [--kithd PATH]
                                 Join, crash and pause detection times, idle CPU, RSS and
                                 gossip traffic over fresh clusters (defaults: 5 nodes, 3 trials).
      demo [--nodes N] [--kithd PATH]
                                 Start a lab, kill n3 and show every survivor noticing.

    Options:
      --node HOST:PORT   Control address to talk to. Default: $KITH_NODE, else the first
                         node of the default lab, else 127.0.0.1:7400.
      --dir DIR          Lab directory. Default: $KITH_LAB_DIR, else ./.kith-lab.
      --kithd PATH       The daemon binary. Default: kithd next to kithctl, else on $PATH.

    Exit status: 0 success, 1 failure (such as an unreachable node), 2 bad usage.
    """
