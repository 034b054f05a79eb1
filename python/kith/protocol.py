"""The agent API's wire: JSON lines, and typed replies.

Shared by the threaded and the asyncio client, so both read the daemon the
same way (Sources/KithNode/Node+AgentAPI.swift and AgentGateway.swift).
"""
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .errors import ProtocolError

#: The daemon's bound on one line, either way (AgentGateway.maxLineBytes).
LINE_BYTES_MAX = 1 << 20
#: Report statuses the daemon compares with what it observes.
STATUSES = ("healthy", "down", "unknown")


def encode(request: Dict[str, Any]) -> bytes:
    """One request as a line; raises ProtocolError when it is over the daemon's bound."""
    line = (json.dumps(request, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
    if len(line) > LINE_BYTES_MAX:
        raise ProtocolError("a request of %d bytes is over the %d-byte line bound" % (len(line), LINE_BYTES_MAX))
    return line


def decode(line: bytes) -> Optional[Dict[str, Any]]:
    """One line from the daemon as an object, or None when it is not a JSON object."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


class LineSplitter:
    """Cuts a byte stream into lines, refusing to buffer more than one line's bound."""

    def __init__(self):
        self._buffer = b""

    def feed(self, data: bytes) -> List[bytes]:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > LINE_BYTES_MAX:
            raise ProtocolError("a line from the daemon exceeds %d bytes" % LINE_BYTES_MAX)
        return [line for line in lines if line.strip()]


def is_event(obj: Dict[str, Any]) -> bool:
    """Events carry "event" and never "ok"; replies carry "ok"."""
    return "event" in obj and "ok" not in obj


@dataclass(frozen=True)
class Hello:
    """The daemon's answer to hello: who and where this agent is, and its last acknowledged checkpoint."""
    agent: str
    node: str
    generation: int
    relaunched: bool
    checkpoint: Any = None

    @classmethod
    def from_reply(cls, reply: Dict[str, Any]) -> "Hello":
        generation = reply.get("generation")
        return cls(agent=str(reply.get("agent", "")), node=str(reply.get("node", "")),
                   generation=generation if isinstance(generation, int) else 0,
                   relaunched=reply.get("relaunched") is True, checkpoint=reply.get("checkpoint"))


@dataclass(frozen=True)
class Member:
    """One row of the membership table (`members`)."""
    name: str
    state: str
    address: str = ""
    control: str = ""
    uid: str = ""
    incarnation: int = 0
    changed_ms_ago: int = 0
    capacity: int = 0
    tags: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: Dict[str, Any]) -> "Member":
        return cls(name=_text(obj, "name"), state=_text(obj, "state"), address=_text(obj, "address"),
                   control=_text(obj, "control"), uid=_text(obj, "uid"), incarnation=_number(obj, "incarnation"),
                   changed_ms_ago=_number(obj, "changed_ms_ago"), capacity=_number(obj, "capacity"),
                   tags=_mapping(obj, "tags"))


@dataclass(frozen=True)
class AgentRecord:
    """One agent as the registry holds it (`agents`); `reported` is what agents claim about it."""
    name: str
    node: str
    state: str
    pid: int = 0
    generation: int = 0
    guardians: List[str] = field(default_factory=list)
    protects: List[str] = field(default_factory=list)
    policy: str = ""
    restarts: int = 0
    handoffs: int = 0
    reason: str = ""
    reported: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: Dict[str, Any]) -> "AgentRecord":
        return cls(name=_text(obj, "name"), node=_text(obj, "node"), state=_text(obj, "state"),
                   pid=_number(obj, "pid"), generation=_number(obj, "generation"),
                   guardians=_names(obj, "guardians"), protects=_names(obj, "protects"),
                   policy=_text(obj, "policy"), restarts=_number(obj, "restarts"), handoffs=_number(obj, "handoffs"),
                   reason=_text(obj, "reason"), reported=_mapping(obj, "reported"))


@dataclass(frozen=True)
class CheckpointAck:
    """A checkpoint held by `replicas` other nodes (the daemon answers once two hold it)."""
    seq: int
    replicas: int


def parse_members(reply: Dict[str, Any]) -> List[Member]:
    return [Member.from_json(m) for m in reply.get("members") or [] if isinstance(m, dict)]


def parse_agents(reply: Dict[str, Any]) -> List[AgentRecord]:
    return [AgentRecord.from_json(a) for a in reply.get("agents") or [] if isinstance(a, dict)]


def parse_checkpoint(reply: Dict[str, Any]) -> CheckpointAck:
    return CheckpointAck(seq=_number(reply, "seq"), replicas=_number(reply, "replicas"))


def _text(obj, key):
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _number(obj, key):
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _names(obj, key):
    value = obj.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _mapping(obj, key):
    value = obj.get(key)
    return {k: v for k, v in value.items() if isinstance(v, str)} if isinstance(value, dict) else {}
