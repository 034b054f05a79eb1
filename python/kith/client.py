"""A threaded client of the agent API: one reader thread, calls from any thread."""
import itertools
import queue
import socket
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Dict, Iterable, List, Optional, Tuple

from . import events as ev
from .errors import Disconnected, HelloRefused, KithError, ProtocolError, RequestTimeout
from .identity import Identity
from .protocol import (AgentRecord, CheckpointAck, Hello, LineSplitter, Member, decode, encode, is_event,
                       parse_agents, parse_checkpoint, parse_members)
from .reconnect import Backoff

#: Events held for an agent that does not take them; past this the oldest are dropped and counted.
EVENTS_QUEUED_MAX = 10_000


_WAKE = object()


class Client:
    """Speaks the agent API as one agent, over the daemon's Unix socket.

    `connect()` says hello with the agent's token; a reader thread then
    matches replies to requests by id and queues pushed events (typed, see
    `kith.events`) for `next_event()`. When the daemon goes away, pending
    requests fail with `Disconnected`; with `reconnect` set, the reader
    connects again with backoff, says hello with the same token and
    subscribes again, queuing `Disconnected(final=False)` then
    `Connected(reconnect=True)` so the agent knows what it may have missed.
    """

    def __init__(self, identity: Optional[Identity] = None, *, timeout: float = 10.0,
                 reconnect: Optional[Backoff] = Backoff(), connect_window: float = 2.0):
        self.identity = identity or Identity.from_environment()
        self.timeout = timeout
        self.reconnect = reconnect
        self.connect_window = connect_window
        self.hello: Optional[Hello] = None
        self.events_dropped = 0
        self._sock: Optional[socket.socket] = None
        self._ids = itertools.count(1)
        self._pending: Dict[int, Tuple[str, Future]] = {}  # id -> (op, its reply)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._events: "queue.Queue[ev.Event]" = queue.Queue(EVENTS_QUEUED_MAX)
        self._subscriptions: List[str] = []
        self._closed = False
        self._reader: Optional[threading.Thread] = None
        self._leftover = (LineSplitter(), [])

    # MARK: Connection

    def connect(self) -> Hello:
        """Connects and says hello; raises HelloRefused, Disconnected (socket not there within connect_window)."""
        sock = self._dial(Backoff(initial=0.05, maximum=0.2, give_up_after=self.connect_window, jitter=0))
        self.hello = self._handshake(sock)
        self._sock = sock
        self._put(ev.Connected(hello=self.hello, reconnect=False))
        self._reader = threading.Thread(target=self._read_loop, name="kith-reader", daemon=True)
        self._reader.start()
        return self.hello

    def close(self) -> None:
        """Ends the session; pending requests fail with Disconnected and no reconnect follows."""
        self._closed = True
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=5)

    def __enter__(self):
        if self.hello is None:
            self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    # MARK: Requests

    def call(self, op: str, **fields: Any) -> Future:
        """Sends a request without waiting; the Future gives the reply object or raises KithError/Disconnected.

        Raises ProtocolError at once when the request is over the daemon's line bound.
        """
        future: Future = Future()
        request = dict(fields, op=op, id=next(self._ids))
        line = encode(request)
        with self._lock:
            sock = self._sock
            if sock is None or self._closed:
                future.set_exception(Disconnected("not connected to the daemon"))
                return future
            self._pending[request["id"]] = (op, future)
        try:
            with self._send_lock:
                sock.sendall(line)
        except OSError as error:
            with self._lock:
                self._pending.pop(request["id"], None)
            if not future.done():
                future.set_exception(Disconnected("sending %s: %s" % (op, error)))
        return future

    def request(self, op: str, timeout: Optional[float] = None, **fields: Any) -> Dict[str, Any]:
        """Sends a request and waits for its reply; raises KithError, Disconnected or RequestTimeout."""
        wait = self.timeout if timeout is None else timeout
        future = self.call(op, **fields)
        try:
            return future.result(timeout=wait)
        except FutureTimeout:
            raise RequestTimeout("no reply to %s within %.1fs" % (op, wait)) from None

    def ping(self) -> None:
        self.request("ping")

    def send(self, to: str, payload: Any) -> Any:
        """Queues `payload` (any JSON) for agent `to`; refused when it is unknown, stopped or congested.

        Returns the request's id: the message is then delivered once, in order, or a
        `SendFailed` event with this `id` follows.
        """
        return self.request("send", to=to, payload=payload).get("id")

    def members(self) -> List[Member]:
        return parse_members(self.request("members"))

    def agents(self) -> List[AgentRecord]:
        return parse_agents(self.request("agents"))

    def subscribe(self, names: Iterable[str]) -> List[str]:
        """Adds to this session's subscriptions (kept across reconnects); returns them all."""
        names = [ev.event_name(n) for n in names]
        reply = self.request("subscribe", events=names)
        self._subscriptions = sorted(set(self._subscriptions) | set(names))
        return [e for e in reply.get("events") or [] if isinstance(e, str)]

    def checkpoint(self, data: Any, timeout: Optional[float] = None) -> CheckpointAck:
        """Stores `data` (given back by the next hello); returns once two other nodes hold it."""
        return parse_checkpoint(self.request("checkpoint", timeout=timeout, data=data))

    def relaunch(self, peer: str) -> str:
        """Asks for a lost or stopped `peer` to run again; returns the node that will run it."""
        target = self.request("relaunch", peer=peer).get("target")
        return target if isinstance(target, str) else ""

    def report(self, peer: str, status: str) -> None:
        """Claims `peer` is `status`, recorded apart from what the daemons observe."""
        self.request("report", peer=peer, status=status)

    # MARK: Events

    def next_event(self, timeout: Optional[float] = None) -> Optional[ev.Event]:
        """The next pushed (or local) event, or None if none came within `timeout` seconds."""
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            return None
        return None if event is _WAKE else event

    def interrupt(self) -> None:
        """Makes a `next_event` that is waiting (now or next) return None at once."""
        self._events.put(_WAKE)

    # MARK: Reader

    def _dial(self, backoff: Backoff) -> socket.socket:
        last: Optional[OSError] = None
        for pause in itertools.chain([0.0], backoff.delays()):
            time.sleep(pause)
            if self._closed:
                break
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.identity.socket)
                return sock
            except OSError as error:
                sock.close()
                last = error
        raise Disconnected("cannot connect to %s: %s" % (self.identity.socket, last))

    def _handshake(self, sock: socket.socket) -> Hello:
        """Says hello on a fresh socket and reads lines until its reply (nothing else may come first)."""
        sock.settimeout(self.timeout)
        hello_id = next(self._ids)
        splitter = LineSplitter()
        try:
            sock.sendall(encode({"op": "hello", "id": hello_id, "agent": self.identity.agent,
                                 "token": self.identity.token}))
            while True:
                data = sock.recv(65536)
                if not data:
                    raise Disconnected("the daemon closed the connection before answering hello")
                lines = splitter.feed(data)
                for index, line in enumerate(lines):
                    reply = decode(line)
                    if reply is None or is_event(reply) or reply.get("id") != hello_id:
                        continue
                    if reply.get("ok") is not True:
                        raise HelloRefused(str(reply.get("error", "refused")), reply)
                    sock.settimeout(None)
                    # What came in the same read after the reply is the reader's to dispatch.
                    self._leftover = (splitter, lines[index + 1:])
                    return Hello.from_reply(reply)
        except socket.timeout:
            sock.close()
            raise Disconnected("no answer to hello within %.1fs" % self.timeout)
        except (OSError, ProtocolError) as error:
            sock.close()
            raise Disconnected("hello: %s" % error)
        except (HelloRefused, Disconnected):
            sock.close()
            raise

    def _read_loop(self) -> None:
        while True:
            splitter, early = self._leftover
            for line in early:
                self._dispatch(line)
            reason = self._read_until_closed(self._sock, splitter)
            self._fail_pending(reason)
            if self._closed:
                self._put(ev.Disconnected(reason="closed by the agent", final=True))
                return
            if self.reconnect is None:
                self._sock = None
                self._put(ev.Disconnected(reason=reason, final=True))
                return
            self._put(ev.Disconnected(reason=reason, final=False))
            if not self._reconnect():
                return

    def _read_until_closed(self, sock: socket.socket, splitter: LineSplitter) -> str:
        while True:
            try:
                data = sock.recv(65536)
            except OSError as error:
                return "connection error: %s" % error
            if not data:
                return "the daemon closed the connection"
            try:
                lines = splitter.feed(data)
            except ProtocolError as error:
                sock.close()
                return str(error)
            for line in lines:
                self._dispatch(line)

    def _dispatch(self, line: bytes) -> None:
        obj = decode(line)
        if obj is None:
            return
        if is_event(obj):
            self._put(ev.parse_event(obj))
            return
        with self._lock:
            waiting = self._pending.pop(obj.get("id"), None) if isinstance(obj.get("id"), int) else None
        if waiting is None:
            return
        op, future = waiting
        if obj.get("ok") is True:
            future.set_result(obj)
        else:
            future.set_exception(KithError(op, str(obj.get("error", "refused")), obj))

    def _fail_pending(self, reason: str) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            if self._sock is not None:
                self._sock.close()
        for _, future in pending.values():
            if not future.done():
                future.set_exception(Disconnected(reason))

    def _reconnect(self) -> bool:
        """Dials again with backoff and says hello with the same token; False (and a final event) on giving up."""
        with self._lock:
            self._sock = None
        try:
            sock = self._dial(self.reconnect)
            hello = self._handshake(sock)
        except (Disconnected, HelloRefused) as error:
            self._put(ev.Disconnected(reason="reconnect failed: %s" % error, final=True))
            return False
        if self._closed:
            sock.close()
            self._put(ev.Disconnected(reason="closed by the agent", final=True))
            return False
        with self._lock:
            self._sock = sock
        self.hello = hello
        if self._subscriptions:
            self.call("subscribe", events=list(self._subscriptions))
        self._put(ev.Connected(hello=hello, reconnect=True))
        return True

    def _put(self, event: ev.Event) -> None:
        try:
            self._events.put_nowait(event)
        except queue.Full:
            self.events_dropped += 1
