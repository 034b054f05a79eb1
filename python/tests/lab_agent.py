#!/usr/bin/env python3
"""An SDK agent for the real-lab test (Tests/KithProcessTests/PythonSDKTests.swift).

Uses every operation of the agent API once at start, and prints every event
it receives, each as a line `SDK {json}` in its log for the test to read.
When a protected peer is lost it asks for its relaunch and reports it down;
an operator message "send PEER" makes it send to PEER (to provoke send_failed).
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import kith  # noqa: E402
from kith import events as ev  # noqa: E402


def say(**fields):
    print("SDK " + json.dumps(fields, sort_keys=True, default=str), flush=True)


def attempt(op, action):
    try:
        say(op=op, ok=True, result=action())
    except (kith.KithError, kith.RequestTimeout) as error:
        say(op=op, ok=False, error=str(error))


agent = kith.Agent(reconnect=None)
client = agent.client


@agent.on_start
def start(hello):
    say(op="hello", ok=True, result={"agent": hello.agent, "node": hello.node, "generation": hello.generation})
    attempt("ping", lambda: client.ping())
    attempt("members", lambda: [[m.name, m.state] for m in client.members()])
    attempt("agents", lambda: sorted(a.name for a in client.agents()))
    attempt("subscribe", lambda: client.subscribe(ev.SUBSCRIBABLE))
    attempt("checkpoint", lambda: client.checkpoint({"step": 1}).replicas)
    attempt("send", lambda: client.send(agent.identity.protects[0], {"ping": 1}))
    attempt("report", lambda: client.report(agent.identity.protects[0], "unknown"))
    say(op="ready", ok=True)


@agent.on("*")
def any_event(event):
    if isinstance(event, (ev.Connected, ev.Disconnected)):
        return
    fields = {k: v for k, v in vars(event).items()}
    say(event=event.kind, **fields)


@agent.on(kith.PeerLost)
def lost(event):
    attempt("relaunch", lambda: client.relaunch(event.peer))
    attempt("report", lambda: client.report(event.peer, "down"))


@agent.on(kith.Message)
def message(event):
    if event.sender == "operator" and isinstance(event.payload, str) and event.payload.startswith("send "):
        attempt("send", lambda: client.send(event.payload[5:], {"hello": "anyone"}))


try:
    agent.run()
except kith.Disconnected as error:
    sys.exit("lab_agent: %s" % error)
