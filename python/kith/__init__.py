"""Kith agents in Python, standard library only.

The daemon (kithd) starts an agent with KITH_AGENT, KITH_SOCKET, KITH_TOKEN
and friends in its environment; `Client` (threads) and `AsyncClient`
(asyncio) speak the agent API over that Unix socket, `kith.events` gives every
pushed event a type, and `Agent` is the decorator style on top:

    agent = Agent()

    @agent.on("peer_lost")
    def lost(event):
        agent.client.relaunch(event.peer)

    agent.run()
"""
from .agent import Agent
from .aio import AsyncClient
from .client import Client
from .errors import Disconnected, HelloRefused, KithError, ProtocolError, RequestTimeout
from .events import (Connected, Disconnected as DisconnectedEvent, Event, MemberAlive, MemberDead, Message,
                     PeerLost, PeerRelaunched, PeerStopped, SendFailed, Unparsed, parse_event)
from .identity import Identity
from .protocol import AgentRecord, CheckpointAck, Hello, Member
from .reconnect import Backoff

__all__ = [
    "Agent", "AsyncClient", "Client", "Identity", "Backoff",
    "KithError", "Disconnected", "HelloRefused", "ProtocolError", "RequestTimeout",
    "Event", "Message", "PeerLost", "PeerRelaunched", "PeerStopped", "MemberAlive", "MemberDead", "SendFailed",
    "Connected", "DisconnectedEvent", "Unparsed", "parse_event",
    "Hello", "Member", "AgentRecord", "CheckpointAck",
]
