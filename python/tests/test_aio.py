"""The asyncio client against the same fake daemon: every operation, events, refusals, reconnect."""
import asyncio
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kith import AsyncClient, Backoff, Disconnected, HelloRefused, Identity, KithError, RequestTimeout
from kith import events as ev
from tests.fakes import FakeDaemon


class AsyncClientTests(unittest.IsolatedAsyncioTestCase):
    def setUp(self):
        self.daemon = FakeDaemon(checkpoint=[1, 2]).start()
        self.addCleanup(self.daemon.close)

    async def connect(self, **options):
        client = AsyncClient(Identity(agent="a1", socket=self.daemon.path, token="secret"), timeout=2, **options)
        await client.connect()
        self.addAsyncCleanup(client.close)
        return client

    async def wait_for_event(self, client, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            event = await client.next_event(timeout=0.1)
            if event is not None:
                seen.append(event)
                if predicate(event):
                    return event
        self.fail("no matching event within %.1fs; saw %s" % (timeout, seen))

    async def test_everyOperation_roundTrips(self):
        client = await self.connect()
        self.assertEqual(client.hello.checkpoint, [1, 2])
        await client.ping()
        await client.send("b1", {"ping": 1})
        self.assertEqual([m.name for m in await client.members()], ["n1", "n2"])
        self.assertEqual([a.state for a in await client.agents()], ["lost"])
        self.assertEqual(await client.subscribe([ev.MemberDead]), ["member_dead"])
        self.assertEqual((await client.checkpoint({"n": 1})).replicas, 2)
        self.assertEqual(await client.relaunch("b1"), "n2")
        await client.report("b1", "unknown")
        self.assertEqual([r["op"] for r in self.daemon.requests],
                         ["hello", "ping", "send", "members", "agents", "subscribe", "checkpoint", "relaunch", "report"])

    async def test_refusalAndTimeout(self):
        self.daemon.answers["send"] = {"ok": False, "error": "unknown agent zz"}
        self.daemon.answers["checkpoint"] = None
        client = await self.connect()
        with self.assertRaises(KithError) as caught:
            await client.send("zz", 1)
        self.assertEqual(caught.exception.error, "unknown agent zz")
        with self.assertRaises(RequestTimeout):
            await client.checkpoint({}, timeout=0.2)
        await client.ping()

    async def test_wrongToken_raisesHelloRefused(self):
        client = AsyncClient(Identity(agent="a1", socket=self.daemon.path, token="no"), timeout=2)
        with self.assertRaises(HelloRefused):
            await client.connect()

    async def test_events_arriveTyped(self):
        client = await self.connect()
        await client.ping()
        self.daemon.push({"event": "peer_lost", "peer": "b1", "node": "n2", "generation": 1, "reason": "left"})
        self.daemon.push({"event": "message", "from": "b1", "payload": {"pong": 3}})
        lost = await self.wait_for_event(client, lambda e: isinstance(e, ev.PeerLost))
        self.assertEqual(lost, ev.PeerLost(peer="b1", node="n2", generation=1, reason="left"))
        message = await self.wait_for_event(client, lambda e: isinstance(e, ev.Message))
        self.assertEqual(message.payload, {"pong": 3})

    async def test_daemonRestarts_clientReconnectsAndResubscribes(self):
        client = await self.connect(reconnect=Backoff(initial=0.02, maximum=0.1, give_up_after=5, seed=2))
        await client.subscribe(["peer_lost"])
        self.daemon.stop_listening()
        await self.wait_for_event(client, lambda e: isinstance(e, ev.Disconnected) and not e.final)
        await asyncio.sleep(0.2)
        self.daemon.start()
        await self.wait_for_event(client, lambda e: isinstance(e, ev.Connected) and e.reconnect)
        self.assertEqual([h["token"] for h in self.daemon.ops("hello")], ["secret", "secret"])
        await client.ping()
        self.assertEqual(self.daemon.ops("subscribe")[-1]["events"], ["peer_lost"])

    async def test_withoutReconnect_theEventStreamEndsWithAFinalDisconnect(self):
        client = await self.connect(reconnect=None)
        self.daemon.drop_connections()
        events = [e async for e in client.events()]
        self.assertIsInstance(events[0], ev.Connected)
        self.assertTrue(events[-1].final)
        with self.assertRaises(Disconnected):
            await client.ping()


if __name__ == "__main__":
    unittest.main()
