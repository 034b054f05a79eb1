"""Every event a daemon pushes to an agent, as a dataclass.

Field names follow the wire (Sources/KithNode/Node+Agents.swift), except
`message`'s `from`, a Python keyword, which is `sender`. A line that names a
known event but lacks a field, or has one of the wrong type, becomes
`Unparsed` rather than an exception: the daemon is trusted, but an agent
must not die of one odd line.
"""
from dataclasses import dataclass
from typing import Any, ClassVar, Dict


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = ""


@dataclass(frozen=True)
class Message(Event):
    """Another agent (or "operator") sent this agent `payload` (any JSON)."""
    kind: ClassVar[str] = "message"
    sender: str
    payload: Any


@dataclass(frozen=True)
class PeerLost(Event):
    """A protected peer's host died, left or restarted; `generation` is the one lost."""
    kind: ClassVar[str] = "peer_lost"
    peer: str
    node: str
    generation: int
    reason: str


@dataclass(frozen=True)
class PeerRelaunched(Event):
    """A protected peer (or one this agent's messages waited for) runs again on `node`."""
    kind: ClassVar[str] = "peer_relaunched"
    peer: str
    node: str
    generation: int


@dataclass(frozen=True)
class PeerStopped(Event):
    """A protected peer was stopped politely (agent stop, shutdown agent)."""
    kind: ClassVar[str] = "peer_stopped"
    peer: str


@dataclass(frozen=True)
class MemberAlive(Event):
    """A node is alive (subscribe to "member_alive")."""
    kind: ClassVar[str] = "member_alive"
    member: str
    state: str


@dataclass(frozen=True)
class MemberDead(Event):
    """A node is dead or left: `state` says which (subscribe to "member_dead")."""
    kind: ClassVar[str] = "member_dead"
    member: str
    state: str


@dataclass(frozen=True)
class SendFailed(Event):
    """A message this agent sent to `to` will not be delivered, and was not.

    `id` is the `send` request's (what `Client.send` returned; None for an
    operator message), `reason` one of "timeout" (no acknowledgement within
    10 s), "fenced" (a newer copy of this agent runs), "stopped" or
    "quarantined" (the receiver), "refused" (an operator message's buffer was full).
    """
    kind: ClassVar[str] = "send_failed"
    to: str
    error: str
    id: Any = None
    reason: str = ""


@dataclass(frozen=True)
class Unparsed(Event):
    """A line with an "event" key this SDK does not know, or a known one with bad fields."""
    kind: ClassVar[str] = "unparsed"
    name: str
    raw: Dict[str, Any]
    problem: str


@dataclass(frozen=True)
class Connected(Event):
    """Local, not from the daemon: a (re)connection said hello; `reconnect` is False the first time."""
    kind: ClassVar[str] = "connected"
    hello: Any
    reconnect: bool = False


@dataclass(frozen=True)
class Disconnected(Event):
    """Local, not from the daemon: the connection ended; `final` when no reconnect will follow."""
    kind: ClassVar[str] = "disconnected"
    reason: str
    final: bool = True


# Wire name -> (class, [(wire field, attribute, type[, default when absent])]).
_SHAPES = {
    "message": (Message, [("from", "sender", str), ("payload", "payload", object)]),
    "peer_lost": (PeerLost, [("peer", "peer", str), ("node", "node", str), ("generation", "generation", int),
                             ("reason", "reason", str)]),
    "peer_relaunched": (PeerRelaunched, [("peer", "peer", str), ("node", "node", str),
                                         ("generation", "generation", int)]),
    "peer_stopped": (PeerStopped, [("peer", "peer", str)]),
    "member_alive": (MemberAlive, [("member", "member", str), ("state", "state", str)]),
    "member_dead": (MemberDead, [("member", "member", str), ("state", "state", str)]),
    "send_failed": (SendFailed, [("to", "to", str), ("error", "error", str), ("id", "id", object, None),
                                 ("reason", "reason", str, "")]),
}

#: The events an agent can ask for with `subscribe` (peer events reach guardians regardless).
SUBSCRIBABLE = ("peer_lost", "peer_relaunched", "peer_stopped", "member_alive", "member_dead")
#: Every event name the daemon pushes.
DAEMON_EVENTS = tuple(_SHAPES)


def parse_event(obj: Dict[str, Any]) -> Event:
    """The typed event for one decoded line that has an "event" key."""
    name = obj.get("event")
    if not isinstance(name, str):
        return Unparsed(name=str(name), raw=obj, problem="\"event\" is not a string")
    shape = _SHAPES.get(name)
    if shape is None:
        return Unparsed(name=name, raw=obj, problem="unknown event")
    cls, fields = shape
    values = {}
    for wire, attribute, kind, *default in fields:
        if wire not in obj:
            if default:
                continue
            return Unparsed(name=name, raw=obj, problem="missing %r" % wire)
        value = obj[wire]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            return Unparsed(name=name, raw=obj, problem="%r is not an integer" % wire)
        if kind is str and not isinstance(value, str):
            return Unparsed(name=name, raw=obj, problem="%r is not a string" % wire)
        values[attribute] = value
    return cls(**values)


def event_name(event_or_name) -> str:
    """The wire name for an Event class, instance or name (for `Agent.on`)."""
    if isinstance(event_or_name, str):
        return event_or_name
    return event_or_name.kind
