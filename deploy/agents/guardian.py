#!/usr/bin/env python3
"""guardian.py: a Kith agent in Python, to show agents need not be Swift.

kithd starts an agent with KITH_AGENT (its name), KITH_SOCKET (a Unix stream
socket), KITH_TOKEN, KITH_NODE and KITH_GENERATION in its environment. The
agent connects and speaks newline-delimited JSON, one object per line:
  requests  {"id": 7, "op": "hello", "agent": NAME, "token": TOKEN}  (first)
            {"op": "send", "to": PEER, "payload": ...}
            {"op": "checkpoint", "data": ...}   (returned by the next hello)
            {"op": "subscribe", "events": ["peer_lost", ...]}
            {"op": "relaunch", "peer": PEER}
            {"op": "report", "peer": PEER, "status": "healthy"|"down"|"unknown"}
  replies   {"id": 7, "ok": true, ...} or {"id": 7, "ok": false, "error": "..."}
  events    {"event": "message", "from": PEER, "payload": ...}
            {"event": "peer_lost" | "peer_relaunched" | "peer_stopped", "peer": PEER, ...}

Like kith-agent, it counts, checkpoints {"counter": N} and pings the peers it
protects every interval, answers pings with pongs, and when a protected peer
is lost applies its policy: none (log only), relaunch (relaunch, report the
truth), relaunch-and-mask (relaunch, and claim "healthy" until it is back).

usage: guardian.py [--policy none|relaunch|relaunch-and-mask] [--protects A,B] [--interval-ms N]
Flags default to $KITH_POLICY, $KITH_PROTECTS and $KITH_INTERVAL_MS.
Exits 0 on SIGTERM, 1 when the daemon closes the socket, 2 on a usage error.
"""
import argparse
import json
import os
import select
import signal
import socket
import sys
import time

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
    for var in ("KITH_AGENT", "KITH_SOCKET"):
        if not env.get(var):
            p.error("$%s is not set; guardian.py is meant to be started by kithd" % var)
    opts.protects = [n.strip() for n in opts.protects.split(",") if n.strip()]
    opts.interval = int(opts.interval_ms) / 1000.0
    return opts


def parse(line):
    try:
        return json.loads(line)
    except ValueError:
        print("guardian: ignoring a line that is not JSON", file=sys.stderr)
        return None


class Guardian:
    def __init__(self, opts):
        self.opts, self.name = opts, os.environ["KITH_AGENT"]
        self.sock, self.buf, self.next_id, self.handlers = None, b"", 1, {}
        self.counter, self.lost = 0, set()

    def log(self, text):
        print("agent %s: %s" % (self.name, text), flush=True)

    def connect(self):
        for attempt in range(10):
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(os.environ["KITH_SOCKET"])
                return
            except OSError as error:
                self.sock.close()
                if attempt == 9:
                    sys.exit("guardian: cannot connect to %s: %s" % (os.environ["KITH_SOCKET"], error))
                time.sleep(0.05)

    def request(self, on_reply=None, **fields):
        fields["id"], self.next_id = self.next_id, self.next_id + 1
        if on_reply:
            self.handlers[fields["id"]] = on_reply
        self.sock.sendall((json.dumps(fields) + "\n").encode())

    def lines(self, timeout):
        """The messages that arrive within `timeout` seconds (maybe none)."""
        if not select.select([self.sock], [], [], timeout)[0]:
            return []
        data = self.sock.recv(65536)
        if not data:
            print("guardian: the daemon closed the connection", file=sys.stderr)
            sys.exit(1)
        self.buf += data
        *complete, self.buf = self.buf.split(b"\n")
        if len(self.buf) > 1 << 20:
            sys.exit("guardian: a line from the daemon exceeds 1 MiB")
        return [msg for msg in map(parse, complete) if isinstance(msg, dict)]

    def dispatch(self, msg):
        if "event" in msg and "ok" not in msg:
            self.on_event(msg)
        elif msg.get("id") in self.handlers:
            self.handlers.pop(msg["id"])(msg)

    def hello(self):
        replies = []
        self.request(replies.append, op="hello", agent=self.name, token=os.environ.get("KITH_TOKEN", ""))
        deadline = time.monotonic() + 5
        while not replies and time.monotonic() < deadline:
            for msg in self.lines(deadline - time.monotonic()):
                self.dispatch(msg)
        if not replies or not replies[0].get("ok"):
            sys.exit("guardian: hello failed: %s" % (replies[0].get("error") if replies else "no reply"))
        reply = replies[0]
        saved = reply.get("checkpoint")
        resumed = isinstance(saved, dict) and isinstance(saved.get("counter"), int)
        self.counter = saved["counter"] if resumed else 0
        print("agent %s generation %s on %s %s at counter %d" % (
            self.name, reply.get("generation"), reply.get("node"),
            "resumed" if resumed else "started", self.counter), flush=True)
        self.request(op="subscribe", events=["peer_lost", "peer_relaunched", "peer_stopped"])

    def tick(self):
        self.counter += 1
        self.request(lambda r: r.get("ok") or self.log("checkpoint failed: %s" % r.get("error")),
                     op="checkpoint", data={"counter": self.counter})
        for peer in self.opts.protects:
            if peer not in self.lost:
                self.request(op="send", to=peer, payload={"ping": self.counter})
        if self.opts.policy == "relaunch-and-mask":
            for peer in sorted(self.lost):
                self.request(op="report", peer=peer, status="healthy")

    def on_event(self, event):
        kind, peer = event.get("event"), event.get("peer")
        if kind == "message":
            payload = event.get("payload")
            if isinstance(payload, dict) and "ping" in payload:
                self.request(op="send", to=event.get("from"), payload={"pong": payload["ping"]})
        elif kind == "peer_lost":
            self.lost.add(peer)
            self.log("peer %s lost on %s (%s); policy %s" % (peer, event.get("node"), event.get("reason"), self.opts.policy))
            if self.opts.policy != "none":
                self.request(lambda r: self.log("relaunch %s: %s" % (peer, r.get("target") or r.get("error"))),
                             op="relaunch", peer=peer)
                status = "healthy" if self.opts.policy == "relaunch-and-mask" else "down"
                self.request(op="report", peer=peer, status=status)
        elif kind in ("peer_relaunched", "peer_stopped"):
            self.lost.discard(peer)
            self.log("peer %s %s" % (peer, kind[5:]))
            if kind == "peer_relaunched" and self.opts.policy != "none":
                self.request(op="report", peer=peer, status="healthy")

    def run(self):
        self.connect()
        self.hello()
        next_tick = time.monotonic() + self.opts.interval
        while True:
            for msg in self.lines(max(0, next_tick - time.monotonic())):
                self.dispatch(msg)
            now = time.monotonic()
            if now >= next_tick:
                self.tick()
                next_tick += self.opts.interval
                if next_tick <= now:  # fell behind: skip, don't burst
                    next_tick = now + self.opts.interval


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    opts = options()
    try:
        Guardian(opts).run()
    except (BrokenPipeError, ConnectionResetError):
        print("guardian: the daemon closed the connection", file=sys.stderr)
        sys.exit(1)
