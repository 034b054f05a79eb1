"""The asyncio client of the agent API: the same operations as `Client`, as coroutines."""
import asyncio
import itertools
from typing import Any, Dict, Iterable, List, Optional

from . import events as ev
from .errors import Disconnected, HelloRefused, KithError, RequestTimeout
from .identity import Identity
from .protocol import (LINE_BYTES_MAX, AgentRecord, CheckpointAck, Hello, Member, decode, encode, is_event,
                       parse_agents, parse_checkpoint, parse_members)
from .reconnect import Backoff
from .client import EVENTS_QUEUED_MAX


class AsyncClient:
    """Speaks the agent API as one agent from an asyncio program.

    Semantics match `Client`: hello with the agent's token on `connect()`,
    replies matched by id in a reader task, events queued for
    `next_event()` (or `async for event in client.events()`), and on a lost
    connection pending requests fail with `Disconnected` and, with
    `reconnect` set, the reader dials again with backoff, says hello with the
    same token and subscribes again.
    """

    def __init__(self, identity: Optional[Identity] = None, *, timeout: float = 10.0,
                 reconnect: Optional[Backoff] = Backoff(), connect_window: float = 2.0):
        self.identity = identity or Identity.from_environment()
        self.timeout = timeout
        self.reconnect = reconnect
        self.connect_window = connect_window
        self.hello: Optional[Hello] = None
        self.events_dropped = 0
        self._ids = itertools.count(1)
        self._pending: Dict[int, asyncio.Future] = {}
        self._events: Optional[asyncio.Queue] = None
        self._reader: Optional[asyncio.StreamReader] = None
        self._writer: Optional[asyncio.StreamWriter] = None
        self._task: Optional[asyncio.Task] = None
        self._subscriptions: List[str] = []
        self._closed = False

    # MARK: Connection

    async def connect(self) -> Hello:
        """Connects and says hello; raises HelloRefused, or Disconnected when the socket is not there in time."""
        self._events = asyncio.Queue(EVENTS_QUEUED_MAX)
        await self._dial_and_hello(Backoff(initial=0.05, maximum=0.2, give_up_after=self.connect_window, jitter=0))
        self._put(ev.Connected(hello=self.hello, reconnect=False))
        self._task = asyncio.get_running_loop().create_task(self._read_loop())
        return self.hello

    async def close(self) -> None:
        """Ends the session; pending requests fail with Disconnected and no reconnect follows."""
        self._closed = True
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    async def __aenter__(self):
        if self.hello is None:
            await self.connect()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    # MARK: Requests

    async def request(self, op: str, timeout: Optional[float] = None, **fields: Any) -> Dict[str, Any]:
        """Sends a request and waits for its reply; raises KithError, Disconnected or RequestTimeout."""
        if self._writer is None or self._closed:
            raise Disconnected("not connected to the daemon")
        request = dict(fields, op=op, id=next(self._ids))
        line = encode(request)
        future = asyncio.get_running_loop().create_future()
        self._pending[request["id"]] = future
        wait = self.timeout if timeout is None else timeout
        try:
            self._writer.write(line)
            await self._writer.drain()
            reply = await asyncio.wait_for(future, timeout=wait)
        except asyncio.TimeoutError:
            raise RequestTimeout("no reply to %s within %.1fs" % (op, wait)) from None
        except (ConnectionError, OSError) as error:
            raise Disconnected("sending %s: %s" % (op, error)) from None
        finally:
            self._pending.pop(request["id"], None)
        if reply.get("ok") is not True:
            raise KithError(op, str(reply.get("error", "refused")), reply)
        return reply

    async def ping(self) -> None:
        await self.request("ping")

    async def send(self, to: str, payload: Any) -> Any:
        """Like `Client.send`: the request's id, named by a later `SendFailed` if it fails."""
        return (await self.request("send", to=to, payload=payload)).get("id")

    async def members(self) -> List[Member]:
        return parse_members(await self.request("members"))

    async def agents(self) -> List[AgentRecord]:
        return parse_agents(await self.request("agents"))

    async def subscribe(self, names: Iterable[str]) -> List[str]:
        names = [ev.event_name(n) for n in names]
        reply = await self.request("subscribe", events=names)
        self._subscriptions = sorted(set(self._subscriptions) | set(names))
        return [e for e in reply.get("events") or [] if isinstance(e, str)]

    async def checkpoint(self, data: Any, timeout: Optional[float] = None) -> CheckpointAck:
        return parse_checkpoint(await self.request("checkpoint", timeout=timeout, data=data))

    async def relaunch(self, peer: str) -> str:
        target = (await self.request("relaunch", peer=peer)).get("target")
        return target if isinstance(target, str) else ""

    async def report(self, peer: str, status: str) -> None:
        await self.request("report", peer=peer, status=status)

    # MARK: Events

    async def next_event(self, timeout: Optional[float] = None) -> Optional[ev.Event]:
        """The next pushed (or local) event, or None if none came within `timeout` seconds."""
        try:
            return await asyncio.wait_for(self._events.get(), timeout=timeout)
        except asyncio.TimeoutError:
            return None

    async def events(self):
        """Every event until the session ends for good (the final Disconnected is the last one)."""
        while True:
            event = await self._events.get()
            yield event
            if isinstance(event, ev.Disconnected) and event.final:
                return

    # MARK: Reader

    async def _dial_and_hello(self, backoff: Backoff) -> None:
        last: Optional[Exception] = None
        for pause in itertools.chain([0.0], backoff.delays()):
            await asyncio.sleep(pause)
            if self._closed:
                break
            try:
                reader, writer = await asyncio.open_unix_connection(self.identity.socket, limit=LINE_BYTES_MAX + 1)
            except OSError as error:
                last = error
                continue
            try:
                self.hello = await asyncio.wait_for(self._hello(reader, writer), timeout=self.timeout)
            except HelloRefused:
                writer.close()
                raise
            except (asyncio.TimeoutError, OSError, ValueError, Disconnected) as error:
                writer.close()
                raise Disconnected("hello: %s" % (error or "no answer in time"))
            self._reader, self._writer = reader, writer
            return
        raise Disconnected("cannot connect to %s: %s" % (self.identity.socket, last))

    async def _hello(self, reader, writer) -> Hello:
        hello_id = next(self._ids)
        writer.write(encode({"op": "hello", "id": hello_id, "agent": self.identity.agent,
                             "token": self.identity.token}))
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                raise Disconnected("the daemon closed the connection before answering hello")
            reply = decode(line)
            if reply is None or is_event(reply) or reply.get("id") != hello_id:
                continue
            if reply.get("ok") is not True:
                raise HelloRefused(str(reply.get("error", "refused")), reply)
            return Hello.from_reply(reply)

    async def _read_loop(self) -> None:
        while True:
            reason = await self._read_until_closed()
            self._writer.close()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(Disconnected(reason))
            self._pending.clear()
            if self._closed or self.reconnect is None:
                self._writer = None
                self._put(ev.Disconnected(reason="closed by the agent" if self._closed else reason, final=True))
                return
            self._put(ev.Disconnected(reason=reason, final=False))
            self._writer = None
            try:
                await self._dial_and_hello(self.reconnect)
            except (Disconnected, HelloRefused) as error:
                self._put(ev.Disconnected(reason="reconnect failed: %s" % error, final=True))
                return
            if self._subscriptions:
                self._writer.write(encode({"op": "subscribe", "events": list(self._subscriptions)}))
            self._put(ev.Connected(hello=self.hello, reconnect=True))

    async def _read_until_closed(self) -> str:
        while True:
            try:
                line = await self._reader.readline()
            except ValueError:  # over the limit: the daemon broke the line bound
                return "a line from the daemon exceeds %d bytes" % LINE_BYTES_MAX
            except (ConnectionError, OSError) as error:
                return "connection error: %s" % error
            if not line:
                return "the daemon closed the connection"
            obj = decode(line)
            if obj is None:
                continue
            if is_event(obj):
                self._put(ev.parse_event(obj))
                continue
            future = self._pending.get(obj.get("id")) if isinstance(obj.get("id"), int) else None
            if future is not None and not future.done():
                future.set_result(obj)

    def _put(self, event: ev.Event) -> None:
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            self.events_dropped += 1
