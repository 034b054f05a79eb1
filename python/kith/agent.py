"""The decorator style: handlers for events, timers, one loop on the main thread."""
import sys
import time
import traceback
from typing import Callable, Dict, List, Optional

from . import events as ev
from .client import Client
from .errors import Disconnected
from .identity import Identity
from .protocol import Hello
from .reconnect import Backoff


class Agent:
    """An agent written as handlers:

        agent = Agent()

        @agent.on("peer_lost")          # or @agent.on(PeerLost)
        def lost(event):
            agent.client.relaunch(event.peer)

        @agent.every(0.5)
        def tick():
            agent.client.checkpoint({"n": 1})

        agent.run()

    Handlers run one at a time on the thread that called `run()`, in the
    order events arrived; replies are matched by the client's reader thread,
    so a handler may make blocking requests. An exception in a handler is
    printed and the loop goes on: one bad event must not end the agent.
    Subscribable events with a handler are subscribed to at start.
    """

    def __init__(self, identity: Optional[Identity] = None, *, client: Optional[Client] = None,
                 reconnect: Optional[Backoff] = Backoff(), timeout: float = 10.0):
        self.client = client or Client(identity, reconnect=reconnect, timeout=timeout)
        self.identity = self.client.identity
        self._handlers: Dict[str, List[Callable]] = {}
        self._timers: List[list] = []  # [interval, next due, function]
        self._start: List[Callable[[Hello], None]] = []
        self._running = False

    @property
    def name(self) -> str:
        return self.identity.agent

    def on(self, event) -> Callable:
        """Registers `handler(event)` for an event name or class ("*" for every event)."""
        name = ev.event_name(event)

        def register(handler):
            self._handlers.setdefault(name, []).append(handler)
            return handler
        return register

    def every(self, seconds: float) -> Callable:
        """Registers `handler()` to run every `seconds`, skipping (not bursting) when behind."""
        if seconds <= 0:
            raise ValueError("an interval must be positive, got %r" % seconds)

        def register(handler):
            self._timers.append([seconds, None, handler])
            return handler
        return register

    def on_start(self, handler: Callable[[Hello], None]) -> Callable:
        """Registers `handler(hello)` to run once connected, before any event."""
        self._start.append(handler)
        return handler

    def stop(self) -> None:
        """Ends `run()` after the current handler (callable from any thread)."""
        self._running = False
        self.client.interrupt()

    def run(self, duration: Optional[float] = None) -> None:
        """Connects, subscribes and handles events until `stop()` or `duration` seconds.

        Raises HelloRefused when the daemon refuses the token, and Disconnected
        when the session ends for good (the daemon closed it, and reconnecting
        was off or failed).
        """
        hello = self.client.hello or self.client.connect()
        self._running = True
        wanted = [name for name in ev.SUBSCRIBABLE if name in self._handlers]
        if wanted:
            self.client.subscribe(wanted)
        for handler in self._start:
            self._call(handler, hello)
        now = time.monotonic()
        end = None if duration is None else now + duration
        for timer in self._timers:
            timer[1] = now + timer[0]
        while self._running:
            now = time.monotonic()
            if end is not None and now >= end:
                break
            due = [t[1] for t in self._timers] + ([end] if end is not None else [])
            wait = max(0.0, min(due) - now) if due else None
            event = self.client.next_event(timeout=wait)
            if event is not None:
                self._dispatch(event)
                if isinstance(event, ev.Disconnected) and event.final:
                    raise Disconnected(event.reason)
            self._run_due_timers()

    def _dispatch(self, event: ev.Event) -> None:
        for handler in self._handlers.get(event.kind, []) + self._handlers.get("*", []):
            self._call(handler, event)

    def _run_due_timers(self) -> None:
        for timer in self._timers:
            interval, due, handler = timer
            now = time.monotonic()
            if now < due:
                continue
            self._call(handler)
            timer[1] = due + interval
            if timer[1] <= now:  # fell behind: skip, don't burst
                timer[1] = now + interval

    def _call(self, handler, *arguments) -> None:
        try:
            handler(*arguments)
        except Disconnected:
            pass  # the reader queues the Disconnected event that ends or resumes the session
        except Exception:
            print("agent %s: handler %s failed:" % (self.name, getattr(handler, "__name__", handler)), file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
