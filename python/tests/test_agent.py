"""The decorator style: handlers by name and class, timers, subscriptions, faults in handlers."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kith import Agent, Disconnected, Identity, Message, PeerLost
from tests.fakes import FakeDaemon


class AgentTests(unittest.TestCase):
    def setUp(self):
        self.daemon = FakeDaemon().start()
        self.addCleanup(self.daemon.close)
        self.agent = Agent(Identity(agent="a1", socket=self.daemon.path, token="secret"), reconnect=None, timeout=2)
        self.addCleanup(self.agent.client.close)

    def test_handlersRun_forTheirEvents_andSubscribableOnesAreSubscribed(self):
        heard, ticks, started = [], [], []
        agent = self.agent

        @agent.on_start
        def start(hello):
            started.append(hello.node)
            self.daemon.push({"event": "message", "from": "b1", "payload": {"ping": 1}})
            self.daemon.push({"event": "peer_lost", "peer": "b1", "node": "n2", "generation": 1, "reason": "x"})

        @agent.on(PeerLost)
        def lost(event):
            heard.append(event)
            agent.client.relaunch(event.peer)  # a blocking request from inside a handler

        @agent.on("message")
        def message(event):
            heard.append(event)

        @agent.on("member_dead")
        def dead(event):
            pass

        @agent.every(0.05)
        def tick():
            ticks.append(1)
            if len(ticks) >= 3 and len(heard) >= 2:
                agent.stop()

        agent.run(duration=5)
        self.assertEqual(started, ["n1"])
        self.assertEqual([type(e) for e in heard], [Message, PeerLost])
        self.assertEqual(self.daemon.ops("relaunch")[0]["peer"], "b1")
        self.assertEqual(sorted(self.daemon.ops("subscribe")[0]["events"]), ["member_dead", "peer_lost"])
        self.assertGreaterEqual(len(ticks), 3)

    def test_aHandlerThatRaises_doesNotEndTheAgent(self):
        calls = []
        agent = self.agent

        @agent.on("peer_stopped")
        def broken(event):
            calls.append(event.peer)
            raise RuntimeError("a bug in the agent")

        @agent.on_start
        def start(hello):
            self.daemon.push({"event": "peer_stopped", "peer": "b1"})
            self.daemon.push({"event": "peer_stopped", "peer": "b2"})

        @agent.every(0.02)
        def tick():
            if len(calls) == 2:
                agent.stop()

        stderr, sys.stderr = sys.stderr, open(os.devnull, "w")
        try:
            agent.run(duration=5)
        finally:
            sys.stderr.close()
            sys.stderr = stderr
        self.assertEqual(calls, ["b1", "b2"])

    def test_run_raisesDisconnected_whenTheDaemonEndsTheSession(self):
        agent = self.agent

        @agent.on_start
        def start(hello):
            self.daemon.drop_connections()

        with self.assertRaises(Disconnected):
            agent.run(duration=5)

    def test_every_refusesANonPositiveInterval(self):
        with self.assertRaises(ValueError):
            self.agent.every(0)


if __name__ == "__main__":
    unittest.main()
