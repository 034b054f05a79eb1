#!/usr/bin/env python3
"""A raw agent-API agent for the delivery test (Tests/KithProcessTests/DeliveryTests.swift).

`delivery_agent.py send PEER COUNT INTERVAL_MS` sends COUNT messages to PEER,
one every INTERVAL_MS, each with `"id": N` and payload `{"n": N}`, and logs
`ACK N` (answered ok), `NACK N ERROR` (refused) and `FAILED N REASON` (send_failed).
`delivery_agent.py receive` logs `GOT N GENERATION` for every message.
Standard library only; one line per fact, flushed, for the test to read.
"""
import json
import os
import select
import socket
import sys
import time


def main():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ["KITH_SOCKET"])
    generation = os.environ.get("KITH_GENERATION", "?")
    buffered = b""

    def write(obj):
        sock.sendall((json.dumps(obj) + "\n").encode())

    def lines(timeout):
        nonlocal buffered
        ready, _, _ = select.select([sock], [], [], max(0.0, timeout))
        if not ready:
            return []
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit(0)
        buffered += chunk
        *complete, buffered = buffered.split(b"\n")
        return [json.loads(line) for line in complete if line.strip()]

    def say(text):
        print(text, flush=True)

    def handle(line):
        if line.get("event") == "message":
            payload = line.get("payload")
            if isinstance(payload, dict) and "n" in payload:  # a guardian's pings are not counted
                say("GOT %s %s" % (payload["n"], generation))
        elif line.get("event") == "send_failed":
            say("FAILED %s %s" % (line.get("id"), line.get("reason")))
        elif isinstance(line.get("id"), int) and line["id"] > 0:
            say("ACK %d" % line["id"] if line.get("ok") else "NACK %d %s" % (line["id"], line.get("error")))

    write({"op": "hello", "agent": os.environ["KITH_AGENT"], "token": os.environ["KITH_TOKEN"], "id": 0})
    say("HELLO %s" % generation)
    if sys.argv[1] == "send":
        peer, count, interval = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) / 1000.0
        next_at = time.monotonic()
        for n in range(1, count + 1):
            while time.monotonic() < next_at:
                for line in lines(next_at - time.monotonic()):
                    handle(line)
            write({"op": "send", "to": peer, "payload": {"n": n}, "id": n})
            next_at += interval
        say("SENT %d" % count)
    while True:
        for line in lines(60):
            handle(line)


if __name__ == "__main__":
    main()
