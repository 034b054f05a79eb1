"""The threaded client against a fake daemon socket: every operation, errors, events, reconnect."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kith import (Backoff, Client, Disconnected, HelloRefused, Identity, KithError, PeerLost, RequestTimeout)
from kith import events as ev
from tests.fakes import FakeDaemon, wait_until


def identity(daemon, token="secret"):
    return Identity(agent="a1", socket=daemon.path, token=token, node="n1", generation=3)


class ClientTests(unittest.TestCase):
    def setUp(self):
        self.daemon = FakeDaemon(checkpoint={"counter": 41}).start()
        self.addCleanup(self.daemon.close)

    def connect(self, **options):
        client = Client(identity(self.daemon), timeout=2, **options)
        client.connect()
        self.addCleanup(client.close)
        return client

    def test_connect_saysHelloWithTheToken_andReturnsTheCheckpoint(self):
        client = self.connect()
        self.assertEqual(self.daemon.ops("hello")[0]["agent"], "a1")
        self.assertEqual(self.daemon.ops("hello")[0]["token"], "secret")
        self.assertEqual(client.hello.node, "n1")
        self.assertEqual(client.hello.generation, 3)
        self.assertEqual(client.hello.checkpoint, {"counter": 41})
        self.assertIsInstance(client.next_event(timeout=1), ev.Connected)

    def test_everyOperation_sendsItsFields_andParsesItsReply(self):
        client = self.connect()
        client.ping()
        sent = client.send("b1", {"ping": 1})
        members = client.members()
        agents = client.agents()
        subscribed = client.subscribe(["peer_lost", PeerLost, "member_dead"])
        ack = client.checkpoint({"counter": 42})
        target = client.relaunch("b1")
        client.report("b1", "down")

        self.assertEqual([r["op"] for r in self.daemon.requests],
                         ["hello", "ping", "send", "members", "agents", "subscribe", "checkpoint", "relaunch", "report"])
        self.assertEqual(self.daemon.ops("send")[0]["to"], "b1")
        self.assertEqual(self.daemon.ops("send")[0]["payload"], {"ping": 1})
        self.assertEqual(sent, self.daemon.ops("send")[0]["id"], "send returns the id a send_failed would name")
        self.assertEqual([(m.name, m.state) for m in members], [("n1", "alive"), ("n2", "dead")])
        self.assertEqual(members[0].tags, {"zone": "a"})
        self.assertEqual(members[0].capacity, 16)
        self.assertEqual(agents[0].name, "b1")
        self.assertEqual(agents[0].guardians, ["a1"])
        self.assertEqual(agents[0].reported, {"a1": "down"})
        self.assertEqual(subscribed, ["member_dead", "peer_lost"])
        self.assertEqual(self.daemon.ops("subscribe")[0]["events"], ["peer_lost", "peer_lost", "member_dead"])
        self.assertEqual((ack.seq, ack.replicas), (1, 2))
        self.assertEqual(self.daemon.ops("checkpoint")[0]["data"], {"counter": 42})
        self.assertEqual(target, "n2")
        self.assertEqual(self.daemon.ops("report")[0], {"op": "report", "peer": "b1", "status": "down",
                                                         "id": self.daemon.ops("report")[0]["id"], "conn": 1})
        ids = [r["id"] for r in self.daemon.requests]
        self.assertEqual(len(set(ids)), len(ids), "every request has its own id")

    def test_refusal_raisesKithError_withTheDaemonsText(self):
        self.daemon.answers["relaunch"] = {"ok": False, "error": "agent b1 is running on n2, not lost"}
        client = self.connect()
        with self.assertRaises(KithError) as caught:
            client.relaunch("b1")
        self.assertEqual(caught.exception.op, "relaunch")
        self.assertEqual(caught.exception.error, "agent b1 is running on n2, not lost")

    def test_unansweredRequest_timesOut_andTheSessionGoesOn(self):
        self.daemon.answers["checkpoint"] = None
        client = self.connect()
        started = time.monotonic()
        with self.assertRaises(RequestTimeout):
            client.checkpoint({"n": 1}, timeout=0.3)
        self.assertLess(time.monotonic() - started, 2)
        client.ping()

    def test_wrongToken_raisesHelloRefused(self):
        client = Client(identity(self.daemon, token="wrong"), timeout=2)
        with self.assertRaises(HelloRefused) as caught:
            client.connect()
        self.assertIn("wrong token", caught.exception.error)

    def test_noSocket_raisesDisconnected_withinTheConnectWindow(self):
        client = Client(Identity(agent="a1", socket=self.daemon.path + ".none"), connect_window=0.3)
        started = time.monotonic()
        with self.assertRaises(Disconnected):
            client.connect()
        self.assertLess(time.monotonic() - started, 2)

    def test_pushedEvents_arriveTyped_inOrder(self):
        client = self.connect()
        self.assertIsInstance(client.next_event(timeout=1), ev.Connected)
        wait_until(lambda: self.daemon.connections, what="the session")
        pushed = [
            {"event": "peer_lost", "peer": "b1", "node": "n2", "generation": 1, "reason": "host died"},
            {"event": "peer_relaunched", "peer": "b1", "node": "n3", "generation": 2},
            {"event": "peer_stopped", "peer": "b2"},
            {"event": "member_dead", "member": "n2", "state": "dead"},
            {"event": "member_alive", "member": "n2", "state": "alive"},
            {"event": "send_failed", "to": "b1", "error": "agent b1 was not reachable within 10s"},
            {"event": "message", "from": "b1", "payload": {"ping": 7}},
        ]
        for event in pushed:
            self.daemon.push(event)
        got = [client.next_event(timeout=2) for _ in pushed]
        self.assertEqual(got, [
            ev.PeerLost(peer="b1", node="n2", generation=1, reason="host died"),
            ev.PeerRelaunched(peer="b1", node="n3", generation=2),
            ev.PeerStopped(peer="b2"),
            ev.MemberDead(member="n2", state="dead"),
            ev.MemberAlive(member="n2", state="alive"),
            ev.SendFailed(to="b1", error="agent b1 was not reachable within 10s"),
            ev.Message(sender="b1", payload={"ping": 7}),
        ])

    def test_garbageLines_areSkipped_andRepliesStillMatch(self):
        client = self.connect()
        wait_until(lambda: self.daemon.connections, what="the session")
        self.daemon.push_raw(b"not json\n[1,2]\n{\"id\": 999, \"ok\": true}\n")
        client.ping()
        self.daemon.push({"event": "peer_stopped", "peer": "b1"})
        events = [client.next_event(timeout=2) for _ in range(2)]
        self.assertEqual(events[1], ev.PeerStopped(peer="b1"))

    def test_oversizedLine_endsTheSession(self):
        client = self.connect(reconnect=None)
        wait_until(lambda: self.daemon.connections, what="the session")
        self.daemon.push_raw(b"x" * ((1 << 20) + 10))
        event = wait_until(lambda: next((e for e in iter(lambda: client.next_event(timeout=0.1), None)
                                         if isinstance(e, ev.Disconnected)), None), what="Disconnected")
        self.assertTrue(event.final)
        self.assertIn("exceeds", event.reason)

    def test_daemonCloses_withoutReconnect_failsPendingAndQueuesAFinalDisconnect(self):
        self.daemon.answers["checkpoint"] = None
        client = self.connect(reconnect=None)
        pending = client.call("checkpoint", data={"n": 1})
        wait_until(lambda: self.daemon.ops("checkpoint"), what="the checkpoint request")
        self.daemon.drop_connections()
        with self.assertRaises(Disconnected):
            pending.result(timeout=2)
        kinds = [client.next_event(timeout=2) for _ in range(2)]
        self.assertIsInstance(kinds[1], ev.Disconnected)
        self.assertTrue(kinds[1].final)
        with self.assertRaises(Disconnected):
            client.ping()

    def test_daemonRestarts_clientReconnectsWithTheSameToken_andSubscribesAgain(self):
        client = self.connect(reconnect=Backoff(initial=0.02, maximum=0.1, give_up_after=5, seed=1))
        client.subscribe(["peer_lost", "member_dead"])
        self.daemon.stop_listening()
        time.sleep(0.2)
        self.daemon.start()
        seen = []
        wait_until(lambda: seen.append(client.next_event(timeout=0.1)) or any(
            isinstance(e, ev.Connected) and e.reconnect for e in seen), what="a reconnect")
        self.assertTrue(any(isinstance(e, ev.Disconnected) and not e.final for e in seen), seen)
        hellos = self.daemon.ops("hello")
        self.assertEqual(len(hellos), 2)
        self.assertEqual(hellos[1]["token"], "secret")
        self.assertNotEqual(hellos[0]["conn"], hellos[1]["conn"])
        wait_until(lambda: len(self.daemon.ops("subscribe")) == 2, what="the subscriptions renewed")
        self.assertEqual(self.daemon.ops("subscribe")[1]["events"], ["member_dead", "peer_lost"])
        client.ping()

    def test_reconnect_givesUp_whenTheTokenIsNoLongerValid(self):
        client = self.connect(reconnect=Backoff(initial=0.02, maximum=0.05, give_up_after=2, seed=1))
        self.daemon.token = "a newer start"
        self.daemon.drop_connections()
        final = wait_until(lambda: next((e for e in iter(lambda: client.next_event(timeout=0.1), None)
                                         if isinstance(e, ev.Disconnected) and e.final), None), what="giving up")
        self.assertIn("wrong token", final.reason)

    def test_reconnect_givesUp_afterItsBackoff(self):
        client = self.connect(reconnect=Backoff(initial=0.02, maximum=0.05, give_up_after=0.5, seed=1))
        self.daemon.stop_listening()
        started = time.monotonic()
        final = wait_until(lambda: next((e for e in iter(lambda: client.next_event(timeout=0.1), None)
                                         if isinstance(e, ev.Disconnected) and e.final), None),
                           timeout=5, what="giving up")
        self.assertLess(time.monotonic() - started, 3)
        self.assertIn("cannot connect", final.reason)


class BackoffTests(unittest.TestCase):
    def test_delays_double_upToTheMaximum_andStopAtTheBudget(self):
        delays = list(Backoff(initial=0.1, maximum=0.4, give_up_after=2, jitter=0).delays())
        self.assertEqual(delays[:4], [0.1, 0.2, 0.4, 0.4])
        self.assertAlmostEqual(sum(delays), 2.0)

    def test_jitter_staysWithinItsBand_andIsSeeded(self):
        first = list(Backoff(initial=1, maximum=1, give_up_after=20, jitter=0.2, seed=7).delays())
        self.assertEqual(first, list(Backoff(initial=1, maximum=1, give_up_after=20, jitter=0.2, seed=7).delays()))
        self.assertTrue(all(0.8 <= d <= 1.2 for d in first[:-1]), first)


if __name__ == "__main__":
    unittest.main()
