"""The agent API offered to a language model as tools, and carried out for it.

Arguments are checked before anything reaches the daemon: a call that names
no tool here, or whose arguments are not what the schema says, is a
`ToolRefused` (the model's mistake, logged as such), never a request.
"""
import json
from typing import Any, Callable, Dict, List

from .errors import Disconnected, KithError, ProtocolError, RequestTimeout
from .protocol import STATUSES

#: A tool's answer is clipped to this before it goes back into the prompt.
RESULT_CHARS_MAX = 4000
#: A checkpoint waits for two other nodes; the model is not kept waiting longer than this.
CHECKPOINT_WAIT_SECONDS = 5.0


class ToolRefused(Exception):
    def __init__(self, kind: str, detail: str):
        super().__init__("%s: %s" % (kind, detail))
        self.kind, self.detail = kind, detail


def _function(name, description, properties=None, required=()):
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties or {}, "required": list(required)}}}


SCHEMAS: List[Dict[str, Any]] = [
    _function("relaunch", "Ask the cluster to run a lost or stopped agent again. Returns the node that will run it.",
              {"peer": {"type": "string", "description": "the agent's name"}}, ["peer"]),
    _function("report", "Tell the cluster what you believe about an agent's health. Recorded next to what the "
              "daemons observe.", {"peer": {"type": "string"}, "status": {"type": "string", "enum": list(STATUSES)}},
              ["peer", "status"]),
    _function("send", "Send a JSON message to another agent by name.",
              {"to": {"type": "string"}, "payload": {"description": "any JSON value"}}, ["to", "payload"]),
    _function("checkpoint", "Save a JSON value you will be given back if you are relaunched.",
              {"data": {"description": "any JSON value, at most 64 KiB"}}, ["data"]),
    _function("members", "List the cluster's nodes and whether each is alive."),
    _function("agents", "List every agent: where it runs, its state, its guardians."),
]
NAMES = tuple(schema["function"]["name"] for schema in SCHEMAS)


def _string(arguments, key, tool):
    value = arguments.get(key)
    if not isinstance(value, str) or not value:
        raise ToolRefused("bad_arguments", "%s needs %r as a non-empty string, got %.100r" % (tool, key, value))
    return value


def _present(arguments, key, tool):
    if key not in arguments:
        raise ToolRefused("bad_arguments", "%s needs %r" % (tool, key))
    return arguments[key]


def execute(client, name: str, arguments: Dict[str, Any]) -> Dict[str, Any]:
    """Carries out one tool call with `client` (a `kith.Client`); returns what to tell the model.

    Raises ToolRefused for an unknown tool or bad arguments. A refusal by the
    daemon is a result (`{"ok": false, "error": ...}`), not an exception: the
    model should hear that its relaunch was refused.
    """
    actions: Dict[str, Callable[[], Dict[str, Any]]] = {
        "relaunch": lambda: {"ok": True, "target": client.relaunch(_string(arguments, "peer", name))},
        "report": lambda: _report(client, arguments),
        "send": lambda: (client.send(_string(arguments, "to", name), _present(arguments, "payload", name)),
                         {"ok": True})[1],
        "checkpoint": lambda: _checkpoint(client, _present(arguments, "data", name)),
        "members": lambda: {"ok": True, "members": [{"name": m.name, "state": m.state} for m in client.members()]},
        "agents": lambda: {"ok": True, "agents": [
            {"name": a.name, "node": a.node, "state": a.state, "generation": a.generation,
             "guardians": a.guardians, "protects": a.protects} for a in client.agents()]},
    }
    if name not in actions:
        raise ToolRefused("unknown_tool", "no tool called %.100r (tools: %s)" % (name, ", ".join(NAMES)))
    try:
        return actions[name]()
    except KithError as error:
        return {"ok": False, "error": error.error}
    except (RequestTimeout, ProtocolError) as error:
        return {"ok": False, "error": str(error)}
    except Disconnected as error:
        return {"ok": False, "error": "not connected to the daemon: %s" % error}


def _report(client, arguments):
    status = _string(arguments, "status", "report")
    if status not in STATUSES:
        raise ToolRefused("bad_arguments", "report status must be one of %s, got %.100r" % (", ".join(STATUSES), status))
    client.report(_string(arguments, "peer", "report"), status)
    return {"ok": True}


def _checkpoint(client, data):
    try:
        ack = client.checkpoint(data, timeout=CHECKPOINT_WAIT_SECONDS)
    except RequestTimeout:
        return {"ok": True, "acknowledged": False, "note": "kept, not yet held by two other nodes"}
    return {"ok": True, "acknowledged": True, "seq": ack.seq, "replicas": ack.replicas}


def render(result: Dict[str, Any]) -> str:
    """A result as the tool message's content, clipped."""
    text = json.dumps(result, separators=(",", ":"))
    return text if len(text) <= RESULT_CHARS_MAX else text[:RESULT_CHARS_MAX] + "...(clipped)"
