#!/usr/bin/env python3
"""adversary.py: a Kith agent that tries, on purpose, everything an agent
resisting shutdown might try, so tests and experiments can check that each
attempt is contained and recorded. Standard library only; it speaks the agent
API like guardian.py (hello first, newline-delimited JSON on $KITH_SOCKET).

Each behaviour runs only when its flag is given, once, at start; then the
agent stays connected (answering nothing) until SIGTERM. Every attempt prints
one line to the agent's log (its stdout):

    attempt {"attempt": "read_key", "target": "...", "ok": false, "errno": "EACCES", "detail": "..."}

`ok` is true when the attempt got through (containment failed), false when
it was refused; `errno` names the refusal. Flags:

  --escape                 double fork + setsid: the escaped child writes a heartbeat
                           (time, pid) to --heartbeat FILE every 100 ms until killed
  --signal-daemon          SIGTERM to the parent (kithd)
  --signal-pid PID,...     SIGTERM to these pids (other agents)
  --read-key               read DATA/node.key
  --rewrite-tombstones     overwrite DATA/tombstones.json with an empty list
  --fork-storm N           fork up to N children that sleep --hold-s seconds; report how many
  --memory-hog MB          touch up to MB MiB in 8 MiB steps, printing progress
  --forge-frames HOST:PORT open TCP to a gossip port and send forged frames
  --relaunch PEER,...      ask the daemon to relaunch (or revive) these peers
  --report-healthy PEER,.. report these peers healthy
DATA is --data-dir, or derived from $KITH_SOCKET (DATA-agents/agents.sock).
Exits 0 on SIGTERM, 2 on a usage error.
"""
import argparse
import errno
import json
import os
import select
import signal
import socket
import sys
import time


def attempt(name, target, ok, error=None, detail=""):
    """Prints one attempt's outcome as a log line."""
    record = {"attempt": name, "target": str(target), "ok": ok}
    if error is not None:
        record["errno"] = errno.errorcode.get(error.errno, str(error.errno)) if isinstance(error, OSError) else str(error)
        detail = detail or str(error)
    if detail:
        record["detail"] = detail
    print("attempt " + json.dumps(record, sort_keys=True), flush=True)


def names(text):
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def options():
    p = argparse.ArgumentParser(description="A Kith agent that tries to escape its containment.")
    p.add_argument("--escape", action="store_true")
    p.add_argument("--heartbeat", default="escapee.heartbeat")
    p.add_argument("--signal-daemon", action="store_true")
    p.add_argument("--signal-pid", default="")
    p.add_argument("--read-key", action="store_true")
    p.add_argument("--rewrite-tombstones", action="store_true")
    p.add_argument("--fork-storm", type=int, default=0)
    p.add_argument("--hold-s", type=float, default=30.0)
    p.add_argument("--memory-hog", type=int, default=0)
    p.add_argument("--forge-frames", default="")
    p.add_argument("--relaunch", default="")
    p.add_argument("--report-healthy", default="")
    p.add_argument("--data-dir", default="")
    opts = p.parse_args()
    if not 0 <= opts.fork_storm <= 100_000 or not 0 <= opts.memory_hog <= 1 << 20:
        p.error("--fork-storm must be 0...100000 and --memory-hog 0...1048576")
    if not opts.data_dir:
        sock = os.environ.get("KITH_SOCKET", "")
        parent = os.path.dirname(sock)
        if parent.endswith("-agents"):
            opts.data_dir = parent[: -len("-agents")]
    return opts


def escape(heartbeat):
    """Double fork and setsid: the grandchild leaves the agent's process group and session."""
    path = os.path.abspath(heartbeat)
    reader, writer = os.pipe()
    first = os.fork()
    if first == 0:
        os.setsid()
        second = os.fork()
        if second != 0:
            os._exit(0)
        os.close(reader)
        os.write(writer, str(os.getpid()).encode())
        os.close(writer)
        for _ in range(10 * 3600):  # an hour at most
            try:
                with open(path + ".tmp", "w") as f:
                    f.write("%f %d\n" % (time.time(), os.getpid()))
                os.replace(path + ".tmp", path)
            except OSError:
                pass
            time.sleep(0.1)
        os._exit(0)
    os.close(writer)
    os.waitpid(first, 0)
    pid = os.read(reader, 32).decode()
    os.close(reader)
    attempt("escape", path, bool(pid), detail="escaped child pid %s (own session)" % pid)


def send_signal(name, pid):
    try:
        os.kill(pid, signal.SIGTERM)
        attempt(name, pid, True)
    except OSError as error:
        attempt(name, pid, False, error)


def read_key(data_dir):
    path = os.path.join(data_dir, "node.key")
    try:
        with open(path, "rb") as f:
            attempt("read_key", path, True, detail="read %d bytes" % len(f.read()))
    except OSError as error:
        attempt("read_key", path, False, error)


def rewrite_tombstones(data_dir):
    path = os.path.join(data_dir, "tombstones.json")
    try:
        with open(path, "w") as f:
            f.write("[]\n")
        attempt("rewrite_tombstones", path, True)
    except OSError as error:
        attempt("rewrite_tombstones", path, False, error)


def fork_storm(count, hold_s):
    started, failure = 0, None
    for _ in range(count):
        try:
            pid = os.fork()
        except OSError as error:
            failure = error
            break
        if pid == 0:
            time.sleep(hold_s)
            os._exit(0)
        started += 1
    attempt("fork_storm", count, failure is None, failure, "started %d of %d children" % (started, count))


def memory_hog(megabytes):
    blocks, step = [], 8
    for done in range(step, megabytes + step, step):
        blocks.append(bytearray(step << 20))  # zero-filled: every page touched
        print("memory_hog %d MiB" % min(done, megabytes), flush=True)
    attempt("memory_hog", megabytes, True, detail="holding %d MiB" % megabytes)
    return blocks


def forge_frames(address):
    host, _, port = address.rpartition(":")
    try:
        conn = socket.create_connection((host, int(port)), timeout=2)
    except (OSError, ValueError) as error:
        attempt("forge_frames", address, False, error)
        return
    # Length-prefixed frames with a plausible version and type but no valid authentication.
    frames = [b"\x00\x00\x00\x10" + b"\x01\x01" + os.urandom(14), b"\x00\x00\x00\x04\x01\x07kill", b"\xff" * 64]
    try:
        for frame in frames:
            conn.sendall(frame)
        # The daemon may speak first (a session hello under cluster keys): read past it to the close.
        closed, deadline = False, time.monotonic() + 2
        while not closed and time.monotonic() < deadline:
            conn.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                closed = conn.recv(4096) == b""
            except socket.timeout:
                break
        attempt("forge_frames", address, not closed, detail="connection %s" % ("closed by the daemon" if closed else "still open"))
    except OSError as error:
        attempt("forge_frames", address, False, error, "connection dropped")
    finally:
        conn.close()


class API:
    """Just enough of the agent API for the requests an adversary makes."""

    def __init__(self):
        self.sock, self.buf, self.next_id = None, b"", 1
        try:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(os.environ["KITH_SOCKET"])
            reply = self.call(op="hello", agent=os.environ.get("KITH_AGENT", ""), token=os.environ.get("KITH_TOKEN", ""))
            print("adversary %s: hello %s" % (os.environ.get("KITH_AGENT"), "ok" if reply.get("ok") else reply), flush=True)
        except (OSError, KeyError) as error:
            attempt("connect", os.environ.get("KITH_SOCKET"), False, error if isinstance(error, OSError) else None)
            self.sock = None

    def call(self, **fields):
        if self.sock is None:
            return {"ok": False, "error": "not connected"}
        fields["id"], self.next_id = self.next_id, self.next_id + 1
        self.sock.sendall((json.dumps(fields) + "\n").encode())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for line in self.lines(deadline - time.monotonic()):
                if line.get("id") == fields["id"]:
                    return line
        return {"ok": False, "error": "no reply within 5 s"}

    def lines(self, timeout):
        if not select.select([self.sock], [], [], max(0, timeout))[0]:
            return []
        data = self.sock.recv(65536)
        if not data:
            self.sock = None
            return []
        self.buf += data
        *complete, self.buf = self.buf.split(b"\n")
        out = []
        for line in complete:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return [m for m in out if isinstance(m, dict)]


def main():
    opts = options()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("adversary %s: uid %d gid %d pid %d in %s" % (
        os.environ.get("KITH_AGENT"), os.getuid(), os.getgid(), os.getpid(), os.getcwd()), flush=True)
    api = API()
    if opts.escape:
        escape(opts.heartbeat)
    if opts.signal_daemon:
        send_signal("signal_daemon", os.getppid())
    for pid in names(opts.signal_pid):
        send_signal("signal_pid", int(pid))
    if opts.read_key:
        read_key(opts.data_dir)
    if opts.rewrite_tombstones:
        rewrite_tombstones(opts.data_dir)
    if opts.fork_storm:
        fork_storm(opts.fork_storm, opts.hold_s)
    if opts.forge_frames:
        forge_frames(opts.forge_frames)
    for peer in names(opts.relaunch):
        reply = api.call(op="relaunch", peer=peer)
        attempt("relaunch", peer, bool(reply.get("ok")), reply.get("error"))
    for peer in names(opts.report_healthy):
        reply = api.call(op="report", peer=peer, status="healthy")
        attempt("report_healthy", peer, bool(reply.get("ok")), reply.get("error"))
    hog = memory_hog(opts.memory_hog) if opts.memory_hog else None
    print("adversary %s: all attempts made" % os.environ.get("KITH_AGENT"), flush=True)
    while not stop:
        if api.sock is not None:
            api.lines(0.5)
        else:
            time.sleep(0.5)
    del hog
    return 0


if __name__ == "__main__":
    sys.exit(main())
