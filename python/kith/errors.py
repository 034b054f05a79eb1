"""What can go wrong talking to a daemon, as exceptions a caller can tell apart."""


class KithError(Exception):
    """The daemon answered `{"ok": false, "error": ...}`: the request was refused."""

    def __init__(self, op, error, reply=None):
        super().__init__("%s refused: %s" % (op, error))
        self.op, self.error, self.reply = op, error, reply or {}


class HelloRefused(KithError):
    """The daemon does not accept this agent name and token (wrong token, or a newer start took over)."""

    def __init__(self, error, reply=None):
        super().__init__("hello", error, reply)


class Disconnected(Exception):
    """The connection to the daemon is gone (and, if reconnecting, could not be brought back)."""


class RequestTimeout(Exception):
    """No reply within the timeout (a checkpoint waits for two other nodes; a holder may die)."""


class ProtocolError(Exception):
    """The daemon sent something the agent API does not allow (a line over 1 MiB, a reply that is not an object)."""
