"""Test doubles: a daemon's agent socket and a chat-completions endpoint, both in-process, loopback only."""
import http.server
import json
import os
import socket
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


class FakeDaemon:
    """A Unix socket speaking the agent API as kithd does, recording every request.

    `answers[op]` overrides the reply to an op (a dict, or a function of the
    request returning one, or None to never answer).
    """

    def __init__(self, token: str = "secret", node: str = "n1", generation: int = 3, checkpoint: Any = None):
        self.directory = tempfile.mkdtemp(prefix="kith-py-")
        self.path = os.path.join(self.directory, "agent.sock")
        self.token, self.node, self.generation, self.checkpoint = token, node, generation, checkpoint
        self.requests: List[Dict[str, Any]] = []  # {"conn": n, **request}
        self.answers: Dict[str, Any] = {}
        self.connections: List[socket.socket] = []
        self.hellos = 0
        self._lock = threading.Lock()
        self._listener: Optional[socket.socket] = None
        self._threads: List[threading.Thread] = []
        self._count = 0

    def start(self) -> "FakeDaemon":
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(8)
        thread = threading.Thread(target=self._accept, args=(self._listener,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop_listening(self) -> None:
        """The daemon is gone: no listener, every connection closed, the socket file removed."""
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the accepting thread
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        self.drop_connections()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def drop_connections(self) -> None:
        with self._lock:
            connections, self.connections = self.connections, []
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self.stop_listening()
        for thread in self._threads:
            thread.join(timeout=2)
        try:
            os.rmdir(self.directory)
        except OSError:
            pass

    def push(self, event: Dict[str, Any]) -> None:
        self.push_raw((json.dumps(event) + "\n").encode())

    def push_raw(self, data: bytes) -> None:
        with self._lock:
            connections = list(self.connections)
        for conn in connections:
            try:
                conn.sendall(data)
            except OSError:
                pass

    def ops(self, op: str) -> List[Dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r.get("op") == op]

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self._count += 1
            thread = threading.Thread(target=self._serve, args=(conn, self._count), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            self._converse(conn, number)
        finally:
            conn.close()

    def _converse(self, conn: socket.socket, number: int) -> None:
        buffer, said_hello = b"", False
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                with self._lock:
                    self.requests.append(dict(request, conn=number))
                reply = self._answer(request, said_hello)
                if request.get("op") == "hello" and reply and reply.get("ok"):
                    said_hello = True
                    self.hellos += 1
                    with self._lock:
                        self.connections.append(conn)
                if reply is None:
                    continue
                if "id" in request:
                    reply["id"] = request["id"]
                try:
                    conn.sendall((json.dumps(reply) + "\n").encode())
                except OSError:
                    return

    def _answer(self, request: Dict[str, Any], said_hello: bool) -> Optional[Dict[str, Any]]:
        op = request.get("op")
        if op == "hello":
            if request.get("token") != self.token:
                return {"ok": False, "error": "hello refused: unknown agent or wrong token"}
            return {"ok": True, "agent": request.get("agent"), "node": self.node, "generation": self.generation,
                    "relaunched": False, "checkpoint": self.checkpoint}
        if not said_hello:
            return {"ok": False, "error": "say hello first"}
        if op in self.answers:
            answer = self.answers[op]
            return answer(request) if callable(answer) else (dict(answer) if answer is not None else None)
        if op in ("ping", "send", "report"):
            return {"ok": True}
        if op == "subscribe":
            return {"ok": True, "events": sorted(set(request.get("events", [])))}
        if op == "checkpoint":
            self.checkpoint = request.get("data")
            return {"ok": True, "seq": len(self.ops("checkpoint")), "replicas": 2}
        if op == "relaunch":
            return {"ok": True, "target": "n2"}
        if op == "members":
            return {"ok": True, "members": [
                {"name": "n1", "uid": "a1", "address": "127.0.0.1:7001", "control": "127.0.0.1:8001",
                 "state": "alive", "incarnation": 0, "changed_ms_ago": 10, "capacity": 16, "tags": {"zone": "a"}},
                {"name": "n2", "state": "dead"}]}
        if op == "agents":
            return {"ok": True, "agents": [
                {"name": "b1", "node": "n2", "pid": 0, "generation": 1, "state": "lost", "guardians": ["a1"],
                 "protects": [], "policy": "none", "restarts": 0, "handoffs": 0, "reason": "host died",
                 "reported": {"a1": "down"}}]}
        return {"ok": False, "error": "unknown op '%s'" % op}


class FakeChat:
    """A scripted chat-completions endpoint on 127.0.0.1.

    `script` is a list of steps, one per request: a dict (the JSON answer),
    ("status", code), ("sleep", seconds), or ("raw", bytes). Past the end,
    the last step repeats. Every request body is kept in `requests`.
    """

    def __init__(self, script: List[Any]):
        self.script, self.requests = list(script), []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                       "body": json.loads(self.rfile.read(length))})
                step = outer.script[min(len(outer.requests), len(outer.script)) - 1]
                if isinstance(step, tuple) and step[0] == "sleep":
                    time.sleep(step[1])
                    step = {"choices": [{"message": {"role": "assistant", "content": "too late"}}]}
                if isinstance(step, tuple) and step[0] == "status":
                    self.send_response(step[1])
                    self.send_header("Retry-After", "7")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    return
                body = step[1] if isinstance(step, tuple) else json.dumps(step).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/v1" % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=2)


def tool_call_answer(*calls, content=None):
    """A chat completion whose message calls tools: calls are (name, arguments dict or raw string)."""
    return {"choices": [{"message": {"role": "assistant", "content": content, "tool_calls": [
        {"id": "call_%d" % i, "type": "function",
         "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
        for i, (name, args) in enumerate(calls)]}}]}


def text_answer(text):
    return {"choices": [{"message": {"role": "assistant", "content": text}}]}


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
