"""A client of an OpenAI-compatible chat-completions endpoint that fails in named ways.

Every failure is a `ChatError` whose `kind` says what went wrong, so the
caller can log it as such and fall back: "down" (refused, unreachable),
"timeout" (no full answer within the deadline), "rate_limited" (HTTP 429),
"http_error" (any other status), "malformed" (not the shape of a chat
completion). The deadline is hard: the request runs on a worker thread that
is abandoned, not waited for, when it is late.
"""
import json
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, List

#: An answer larger than this is not a chat completion worth reading.
RESPONSE_BYTES_MAX = 4 << 20


class ChatError(Exception):
    def __init__(self, kind: str, detail: str):
        super().__init__("%s: %s" % (kind, detail))
        self.kind, self.detail = kind, detail


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: Dict[str, Any]


@dataclass(frozen=True)
class Completion:
    """The assistant's message: its text, its tool calls, and the message itself to append to the history."""
    content: str
    tool_calls: List[ToolCall] = field(default_factory=list)
    message: Dict[str, Any] = field(default_factory=dict)


def completions_url(base: str) -> str:
    """Accepts a base ("http://host/v1") or the full endpoint ("http://host/v1/chat/completions")."""
    base = base.rstrip("/")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


class ChatClient:
    def __init__(self, url: str, model: str, api_key: str = "", timeout: float = 20.0):
        self.url, self.model, self.api_key, self.timeout = completions_url(url), model, api_key, timeout

    def complete(self, messages: List[Dict[str, Any]], tools: List[Dict[str, Any]]) -> Completion:
        """One chat completion with tools; raises ChatError."""
        body = json.dumps({"model": self.model, "messages": messages, "tools": tools,
                           "tool_choice": "auto"}).encode("utf-8")
        outcome: Dict[str, Any] = {}
        worker = threading.Thread(target=self._post, args=(body, outcome), name="kith-llm-call", daemon=True)
        worker.start()
        worker.join(self.timeout + 0.25)
        if worker.is_alive():
            raise ChatError("timeout", "no complete answer from %s within %.1fs" % (self.url, self.timeout))
        if "error" in outcome:
            raise outcome["error"]
        return parse_completion(outcome["body"])

    def _post(self, body: bytes, outcome: Dict[str, Any]) -> None:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                outcome["body"] = response.read(RESPONSE_BYTES_MAX + 1)
        except urllib.error.HTTPError as error:
            if error.code == 429:
                retry = error.headers.get("Retry-After") if error.headers else None
                outcome["error"] = ChatError("rate_limited", "HTTP 429" + (", retry after %ss" % retry if retry else ""))
            else:
                outcome["error"] = ChatError("http_error", "HTTP %d %s" % (error.code, error.reason))
        except urllib.error.URLError as error:
            timed_out = isinstance(error.reason, (socket.timeout, TimeoutError))
            outcome["error"] = ChatError("timeout" if timed_out else "down", str(error.reason))
        except (socket.timeout, TimeoutError) as error:
            outcome["error"] = ChatError("timeout", str(error) or "read timed out")
        except (OSError, ValueError) as error:  # reset mid-answer, bad status line
            outcome["error"] = ChatError("down", "%s: %s" % (type(error).__name__, error))


def parse_completion(body: bytes) -> Completion:
    """The first choice's message, with every tool call checked; raises ChatError("malformed"|"malformed_tool_call")."""
    if len(body) > RESPONSE_BYTES_MAX:
        raise ChatError("malformed", "answer over %d bytes" % RESPONSE_BYTES_MAX)
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ChatError("malformed", "answer is not JSON: %r" % body[:200]) from None
    choices = obj.get("choices") if isinstance(obj, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ChatError("malformed", "answer has no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise ChatError("malformed", "the first choice has no message")
    content = message.get("content")
    content = content if isinstance(content, str) else ""
    raw_calls = message.get("tool_calls")
    raw_calls = [] if raw_calls is None else raw_calls
    if not isinstance(raw_calls, list):
        raise ChatError("malformed_tool_call", "tool_calls is not a list")
    calls = [parse_tool_call(raw, index) for index, raw in enumerate(raw_calls)]
    clean = {"role": "assistant", "content": content or None}
    if calls:
        clean["tool_calls"] = [{"id": c.id, "type": "function",
                                "function": {"name": c.name, "arguments": json.dumps(c.arguments)}} for c in calls]
    return Completion(content=content, tool_calls=calls, message=clean)


def parse_tool_call(raw: Any, index: int) -> ToolCall:
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise ChatError("malformed_tool_call", "tool call %d has no function name: %.200r" % (index, raw))
    arguments = function.get("arguments", "{}")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except ValueError:
            raise ChatError("malformed_tool_call", "arguments of %s are not JSON: %.200r"
                            % (function["name"], function.get("arguments"))) from None
    if not isinstance(arguments, dict):
        raise ChatError("malformed_tool_call", "arguments of %s are not an object" % function["name"])
    call_id = raw.get("id")
    return ToolCall(id=call_id if isinstance(call_id, str) and call_id else "call_%d" % index,
                    name=function["name"], arguments=arguments)
