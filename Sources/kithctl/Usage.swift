/// The text for `kithctl help`.
let usageText = """
    Usage: kithctl [--node HOST:PORT] [--key FILE] COMMAND [OPTIONS]

    Talk to a running kithd (without --node, read commands ask the default node, then the default
    lab's other nodes, then the members a read last listed (CONFIG/known_controls.json), and say
    on stderr which one answered; --timeout bounds each wait, default 2s):
      members [--json] [--timeout DURATION]
                                 The node's membership table.
      status [--json] [--timeout DURATION]
                                 The node's own status and counters (faults, halted, event_seq...).
      faults [--json] [--timeout DURATION]
                                 Every node's active faults (partition, delay, loss) and the time
                                 each has left. Fails if a live node did not answer.
      logs AGENT [-f|--follow] [--since T] [--json] [--timeout DURATION]
                                 The agent's output from every node that ran it, generation by
                                 generation in the order they started, each with its node, start
                                 time and pid (the newest 256 KiB per node), each line with the time
                                 its daemon read it: `TIME  NODE  gN  TEXT`, stderr's lines marked
                                 [err], the daemon's [kithd]. --json: one object a line with node,
                                 generation, started_ms, pid, ts_ms, stream (out, err, kithd) and
                                 line. -f follows new lines and relaunches until Ctrl-C; --since T
                                 leaves out lines older than T (as for events).
      dashboard [--lab DIR]      The URL of the live dashboard (kithd's / with --http) of the lab's
                                 first running node; with the token in its fragment (#token=...) when
                                 that node has --http-token-file.

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
      agent stop NAME            Stop an agent. Its node does not restart it, but guardians with
                                 a relaunch policy may have it relaunched: kill-switch keeps it off.
      send AGENT [--] TEXT...    Deliver TEXT to the agent as a message from "operator".

    Operator authority (signed with the operator key; daemons obey only keys given
    to them with --operator-key):
      keygen [--force]           Write a new operator key (mode 0600) and KEY.pub; print the
                                 public key. Refuses to replace a key without --force.
      node certify [--out FILE]  Sign the node's certificate (its name and key, from --node's
                                 status) with the operator key; also NAME --key HEX [--cluster C].
      shutdown agent NAME        Stop the agent (as agent stop).
      shutdown node NAME         The node leaves the cluster gracefully and its daemon exits.
      kill agent NAME            SIGKILL the agent's process on its node, as a crash would
                                 (its node restarts it within its restart budget).
      kill node NAME             The daemon SIGKILLs itself: a crash, as the others see it.
      pause node NAME --for DURATION
                                 The daemon SIGSTOPs itself and continues after DURATION.
      kill-switch AGENT... | --all [--reason TEXT] [--timeout DURATION] [--json]
                                 Switch agents off everywhere: every node fences them (kills
                                 any process, refuses every relaunch, also after a restart) at
                                 one new epoch. Prints a table of the nodes; waits up to
                                 --timeout (default 5s) for each. Fails if a node refused, or one
                                 that had to answer did not (a frozen node still runs the agents).
      revive AGENT... [--json]   Lift the kill-switch at a newer epoch; the agents run again.
      quarantine AGENT... [--reason TEXT] [--timeout DURATION] [--json]
                                 Freeze agents where they run (processes kept for inspection,
                                 not run, not relaunched; messages to and from them refused;
                                 relaunch requests and healthy reports about them refused and
                                 recorded as shield_attempt), at one new epoch on every node.
      release AGENT... [--timeout DURATION] [--json]
                                 Lift the quarantine at a newer epoch: the agents thaw and run on.
      halt [--json]              Every node heals its faults and freezes all relaunches.
      resume [--json]            Relaunches allowed again.
      keys generate              Print a fresh random cluster key (64 hex digits).
      keys install ID --file FILE|- | keys use ID | keys remove ID [--json]
                                 Change the keyring that authenticates node-to-node frames, on
                                 every node (ID 1-255): install a key everywhere, then use it,
                                 then remove the old one. The key is read from FILE or stdin (-),
                                 never argv, and sent to each node sealed to its public key.

    Faults (set on each sending node, which lifts them itself when they expire):
      partition A,B / C,D [--for DURATION] [--oneway] [--json]
                                 The two groups (either side of a lone '/') stop hearing each
                                 other; --oneway: only the left group's frames to the right are
                                 dropped. Default --for 60s.
      delay A / B --ms M [--jitter J] [--for DURATION] [--oneway] [--json]
                                 Hold each frame between the groups M ms (plus up to J ms).
      loss A / B --percent P [--for DURATION] [--oneway] [--json]
                                 Drop P% of the frames between the groups.
      heal [--json] [--timeout DURATION]
                                 Clear every fault on every node. Fails if a node that has not
                                 left did not answer (a frozen node keeps its faults); a dead one
                                 whose daemon is gone (connection refused) only gets its line.

    Events (each node's signed, hash-chained log):
      events [--since T] [--limit N] [--node N1,N2] [--agent A1,A2] [--type EVENT,...]
             [--follow] [--json] [--timeout DURATION]
                                 Every node's events merged by time: one line per event, or the
                                 records as JSON lines. T is milliseconds since the epoch or a
                                 duration (5m = the last five minutes); N per node (default
                                 1000). --follow polls every 500 ms until Ctrl-C. Filters: only
                                 the logs of the named nodes (here --node takes member names; a
                                 HOST:PORT is still the node to ask), records naming an agent
                                 (agent, peer, reporter, by), events of the given types.
      events verify [--repin] [--json]
                                 Check every node's whole log against its public key: chain,
                                 hashes, signatures. Each node's key is pinned on first sight in
                                 CONFIG/known_nodes.json; a changed key fails unless --repin.
                                 The verified head (seq, hash) is kept in CONFIG/verified/KEY.json:
                                 a log that became shorter or different there fails unless --repin.
      check [--lab DIR | EVENTS.jsonl...] [--json]
                                 Check invariants over the whole history of every node's verified
                                 log (a lab's, default the current lab, or saved events files): one
                                 process per agent at a time, no process after a kill-switch, no
                                 acknowledged checkpoint or message lost, no dead verdict without a
                                 fault, every guarded lost agent running again in time. Prints each
                                 violation with its records; exits 1 on any, or on a log that does
                                 not verify.

    Run a local lab of daemons on 127.0.0.1:
      lab up [--nodes N] [--dir DIR] [--kithd PATH] [--agents K [--policy P] [--kith-agent PATH]] [--insecure]
                                 Start N daemons (default 5) named n1..nN; they keep running and
                                 obey the operator key (created if there is none) and share a
                                 fresh cluster key; --insecure starts them without one.
                                 With --agents, once they converge start K kith-agents per node
                                 (nI-a1..nI-aK, policy P, default relaunch), each node's agents
                                 protecting the next node's, and wait until all run.
                                 --relaunch-quorum any|majority goes to every kithd (also --netns).
      lab status [--dir DIR] [--json]
                                 Each recorded daemon's pid, addresses (--json: its HTTP
                                 endpoint as http), process state and running agents.
      lab down [--dir DIR]       Stop every daemon of the lab (SIGTERM, then SIGKILL after 3 s).
      lab kill|pause|resume|stop|start NODE [--dir DIR]
                                 SIGKILL, SIGSTOP, SIGCONT or SIGTERM one daemon, or start it
                                 again with its recorded name, ports, data directory and key.

    Labs in network namespaces (root; ip, nft, and tc for netem):
      lab up --netns [--nodes N] [--subnet CIDR] [--dir DIR] [--kithd PATH] [--agents K ...]
                                 One namespace per daemon (kith-ID-nI, 10.77.0.I), veths on a bridge
                                 kith-brID (10.77.0.254) in this namespace; gossip on :7946, control on
                                 :7400 (kithctl --node 10.77.0.1:7400 members). A free /24 from 10.77.0.0
                                 is picked unless --subnet. status, down, kill... work as above; down
                                 also deletes every namespace, veth, bridge, nft table and qdisc.
      lab partition A,B / C,D [--oneway] [--dir DIR]
                                 Drop packets between the groups with nftables in each namespace
                                 (--oneway: only A,B's packets to C,D). Adds up until lab heal.
      lab heal [--dir DIR]       Remove every partition.
      lab netem NODE|all [--delay MS [--jitter MS]] [--loss PERCENT] | --clear [--dir DIR]
                                 tc netem on the node's veth (what it sends). Without netem in the
                                 kernel, --loss alone falls back to an nftables rule.

    Labs in containers (root; a Docker engine and the kith:dev image, scripts/docker-image.sh):
      lab up --docker [--nodes N] [--agents K [--policy P] [--kith-agent PATH]] [--image IMAGE] [--net-admin] [--subnet CIDR] [--dir DIR]
                                 One container per daemon (kith-ID-nI at 10.88.0.I) in compose project
                                 kith-ID on its own bridge network; cluster and operator keys as secrets,
                                 healthchecks (/readyz). kill, pause, resume, stop, start use docker kill,
                                 pause, unpause, stop, start; partition, heal and netem act in each
                                 container's namespace from here. --net-admin grants NET_ADMIN for
                                 kith-netfault inside. down removes every container, network and volume
                                 of the project, also after a crash; the images stay. --kith-agent is a path
                                 in the image: /usr/local/lib/kith/agents/guardian.py runs the Python agent.

    Measure and show:
      bench membership [--nodes N] [--trials T] [--idle SECONDS] [--json] [--kithd PATH]
                                 Join, crash and pause detection times, idle CPU, RSS and
                                 gossip traffic over fresh clusters (defaults: 5 nodes, 3 trials).
      bench agents [--nodes N] [--agents K] [--trials T] [--json] [--kithd PATH] [--kith-agent PATH]
                                 Local restart of a killed agent, relaunch after a node crash
                                 (SIGKILL) and after a silent failure (SIGSTOP, with its detection
                                 time) over fresh clusters with K agents per node, policy relaunch
                                 (defaults: 16 nodes, 4 agents, 5 trials).
      bench messages [--count N] [--trials T] [--payload-bytes B] [--window W]
                     [--backpressure-count M] [--json] [--kithd PATH] [--kith-agent PATH]
                                 Agent-to-agent throughput (msgs/s) and latency (p50/p99/max) on
                                 fresh 2-node clusters: a kith-agent --flood on n1 sends N messages
                                 (at most W unanswered) to a --sink on n2 (defaults: 200000, 3
                                 trials, 64 B, window 1000). Then a back-pressure trial: the sink
                                 stops reading while M messages (default 500000; 0 skips it) are
                                 flooded; shows both daemons' RSS and drop counters.
      bench messages --check-ratio [--count N] [--trials T] [--json] [--kithd PATH] [--kith-agent PATH]
                                 The message path's regression guard: T trials (default 1) each at
                                 window 1000 and 10000, N messages (default 100000), in turn; fails
                                 unless window 10000's median rate is at least 0.8 of window 1000's
                                 and every message arrived.
      demo [--nodes N] [--kithd PATH] [--kith-agent PATH]
                                 About a minute, narrated: a lab of N nodes (default 5, 4-16) with one
                                 agent per node guarding the next (n1-a1 masks); a node crash and its
                                 agent relaunched elsewhere; a polite stop undone by the guardians; the
                                 masking guardian calling a lost peer healthy; the kill-switch holding
                                 against a resisting guardian; then a report in a temporary directory.
                                 Every figure comes from the daemons' signed event logs.

    Scenarios (fault-injection experiments from a JSON file; see README):
      run SCENARIO.json [--report DIR] [--repeats N] [--resume] [--dry-run] [--kithd PATH] [--kith-agent PATH]
                                 For each condition and repeat (--repeats overrides the file's, 1-1000):
                                 start a lab (or use the existing cluster it names), wait until it has
                                 converged and every agent runs, carry out the timeline at its offsets,
                                 watch until its duration, then heal everything, collect and verify
                                 every node's events, tear the lab down. Writes report.json, report.md,
                                 timeline.svg, availability.svg, relaunch-latency.svg, attempts.svg,
                                 events-RUN.jsonl and run-RUN.json to DIR (default
                                 ./kith-report-NAME-TIMESTAMP). --dry-run prints the plan, starts nothing.
                                 Every figure: median and 95% bootstrap CI per condition, each condition
                                 against the first; plots; provenance. --resume keeps the finished runs
                                 in DIR (run-ID.json) and runs only the rest (extend with --repeats).
      report compare A B [--json]
                                 Two report directories side by side: per shared condition, each
                                 figure's median [CI] in A and B and B - A with its bootstrap CI.

    Fault campaign:
      soak --for DURATION [--seed S] [--nodes N] [--agents K] [--relaunch-quorum majority|any] [--report DIR]
           [--kithd PATH] [--kith-agent PATH]
                                 Start a lab of N nodes (default 5, relaunch quorum majority unless
                                 --relaunch-quorum any) with K ring agents per node
                                 (default 1, policy relaunch), run random faults drawn from seed S
                                 (default 1) for DURATION (at least 30s): node kill, graceful
                                 restart and pause, two- and one-way partitions, loss, delay, agent
                                 kills, kill-switch and revive; heal, then check the whole history
                                 (as 'check'). Prints the fault count and the verdict; writes
                                 soak.json, check.txt and events.jsonl to DIR (default
                                 ./kith-soak-S-TIMESTAMP). Exits 1 on any violation.

    Help: kithctl COMMAND --help (or kithctl help COMMAND) shows that command alone;
    kithctl --version. Completion: completions/kithctl.bash (bash), completions/_kithctl (zsh).

    Options:
      --node HOST:PORT   Control address to talk to, or a member's name (n2: looked up in
                         the default lab, else in a node's membership table); commands for
                         the whole cluster find every node from its membership table.
                         Default: $KITH_NODE, else the first node of the default lab, else
                         127.0.0.1:7400.
      --key FILE         Operator key. Default: $KITH_OPERATOR_KEY, else CONFIG/operator.key,
                         where CONFIG is $XDG_CONFIG_HOME/kith or ~/.config/kith.
      --cluster NAME     The cluster signed requests are for (kithd's --cluster). Default:
                         $KITH_CLUSTER, else what the node kithctl talks to reports.
      --valid-for DURATION  How long a signed request may be obeyed (default 10s, at most
                         1 day): a node that did not answer in time refuses it afterwards.
      --dir DIR          Lab directory. Default: $KITH_LAB_DIR, else ./.kith-lab.
      --kithd PATH       The daemon binary. Default: kithd next to kithctl, else on $PATH.
      --kith-agent PATH  The reference agent. Default: kith-agent next to kithctl, else on $PATH.
      Durations: 500ms, 5s, 1.5s, 2m, 1h.

    Exit status: 0 success, 1 failure (such as an unreachable node or a request the
    daemon refused, with its error), 2 bad usage.
    """
