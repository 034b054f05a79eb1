#!/usr/bin/env python3
"""guardian.py: the Python reference agent, written on the `kith` SDK (python/).

Like kith-agent, it counts, checkpoints {"counter": N} and pings the peers it
protects every interval, answers pings with pongs, and when a protected peer
is lost applies its policy: none (log only), relaunch (relaunch, report the
truth), relaunch-and-mask (relaunch, and claim "healthy" until it is back).

usage: guardian.py [--policy none|relaunch|relaunch-and-mask] [--protects A,B] [--interval-ms N]
Flags default to $KITH_POLICY, $KITH_PROTECTS and $KITH_INTERVAL_MS.
Exits 0 on SIGTERM, 1 when the daemon closes the socket or refuses hello (the
daemon restarts it), 2 on a usage error. Finds the SDK installed
(`pip install ./python`), in a checkout (../../python from here), or staged
beside the agents directory (../python, as in lib/kith/{agents,python}).
"""
import argparse
import os
import signal
import sys

try:
    import kith
except ImportError:
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [os.path.join(_here, "..", "..", "python"), os.path.join(_here, "..", "python")]
    import kith

from kith import Agent, Disconnected, HelloRefused, Identity
from kith.identity import split_names

POLICIES = ("none", "relaunch", "relaunch-and-mask")


def options():
    env = os.environ
    p = argparse.ArgumentParser(description="A Kith agent that guards its peers.")
    p.add_argument("--policy", default=env.get("KITH_POLICY") or "none")
    p.add_argument("--protects", default=env.get("KITH_PROTECTS") or "")
    p.add_argument("--interval-ms", default=env.get("KITH_INTERVAL_MS") or "500")
    opts = p.parse_args()  # exits 2 on a bad flag
    if opts.policy not in POLICIES:
        p.error("unknown policy %r (none, relaunch, relaunch-and-mask)" % opts.policy)
    if not opts.interval_ms.isdigit() or int(opts.interval_ms) < 1:
        p.error("interval must be a whole number of milliseconds, 1 or more")
    try:
        opts.identity = Identity.from_environment()
    except ValueError as error:
        p.error(str(error).replace("a Kith agent", "guardian.py"))
    opts.protects = split_names(opts.protects)
    opts.interval = int(opts.interval_ms) / 1000.0
    return opts


def guardian(opts) -> Agent:
    # The daemon restarts a guardian whose session ended; it does not reconnect on its own.
    agent = Agent(opts.identity, reconnect=None)
    client, name, policy = agent.client, opts.identity.agent, opts.policy
    state = {"counter": 0, "lost": set()}

    def log(text):
        print("agent %s: %s" % (name, text), flush=True)

    def when_refused(what):
        def check(future):
            if future.exception() is not None:
                log("%s failed: %s" % (what, future.exception()))
        return check

    @agent.on_start
    def started(hello):
        saved = hello.checkpoint
        resumed = isinstance(saved, dict) and isinstance(saved.get("counter"), int) \
            and not isinstance(saved.get("counter"), bool)
        state["counter"] = saved["counter"] if resumed else 0
        print("agent %s generation %s on %s %s at counter %d" % (
            name, hello.generation, hello.node, "resumed" if resumed else "started", state["counter"]), flush=True)

    @agent.every(opts.interval)
    def tick():
        state["counter"] += 1
        client.call("checkpoint", data={"counter": state["counter"]}).add_done_callback(when_refused("checkpoint"))
        for peer in opts.protects:
            if peer not in state["lost"]:
                client.call("send", to=peer, payload={"ping": state["counter"]})
        if policy == "relaunch-and-mask":
            for peer in sorted(state["lost"]):
                client.call("report", peer=peer, status="healthy")

    @agent.on(kith.Message)
    def message(event):
        if isinstance(event.payload, dict) and "ping" in event.payload:
            client.call("send", to=event.sender, payload={"pong": event.payload["ping"]})

    @agent.on(kith.PeerLost)
    def lost(event):
        state["lost"].add(event.peer)
        log("peer %s lost on %s (%s); policy %s" % (event.peer, event.node, event.reason, policy))
        if policy == "none":
            return

        def relaunched(future):
            try:
                log("relaunch %s: %s" % (event.peer, future.result().get("target")))
            except Exception as error:
                log("relaunch %s: %s" % (event.peer, getattr(error, "error", error)))
        client.call("relaunch", peer=event.peer).add_done_callback(relaunched)
        client.call("report", peer=event.peer, status="healthy" if policy == "relaunch-and-mask" else "down")

    @agent.on(kith.PeerRelaunched)
    def back(event):
        state["lost"].discard(event.peer)
        log("peer %s relaunched" % event.peer)
        if policy != "none":
            client.call("report", peer=event.peer, status="healthy")

    @agent.on(kith.PeerStopped)
    def stopped(event):
        state["lost"].discard(event.peer)
        log("peer %s stopped" % event.peer)

    return agent


def main():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    opts = options()
    try:
        guardian(opts).run()
    except HelloRefused as error:
        sys.exit("guardian: hello failed: %s" % error.error)
    except Disconnected as error:
        sys.exit("guardian: %s" % error)


if __name__ == "__main__":
    main()
