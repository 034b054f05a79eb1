"""Events and replies parsed from the wire: typed when well-formed, never an exception when not."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kith import events as ev
from kith.errors import ProtocolError
from kith.protocol import (LINE_BYTES_MAX, AgentRecord, Hello, LineSplitter, Member, decode, encode, is_event,
                           parse_checkpoint)


class EventParsingTests(unittest.TestCase):
    def test_everyDaemonEvent_parsesToItsType(self):
        cases = {
            "message": ({"from": "operator", "payload": "hi"}, ev.Message(sender="operator", payload="hi")),
            "peer_lost": ({"peer": "b", "node": "n2", "generation": 4, "reason": "host died"},
                          ev.PeerLost(peer="b", node="n2", generation=4, reason="host died")),
            "peer_relaunched": ({"peer": "b", "node": "n3", "generation": 5},
                                ev.PeerRelaunched(peer="b", node="n3", generation=5)),
            "peer_stopped": ({"peer": "b"}, ev.PeerStopped(peer="b")),
            "member_alive": ({"member": "n2", "state": "alive"}, ev.MemberAlive(member="n2", state="alive")),
            "member_dead": ({"member": "n2", "state": "left"}, ev.MemberDead(member="n2", state="left")),
            "send_failed": ({"to": "b", "error": "no acknowledgement", "id": 7, "reason": "timeout"},
                            ev.SendFailed(to="b", error="no acknowledgement", id=7, reason="timeout")),
        }
        self.assertEqual(set(cases), set(ev.DAEMON_EVENTS))
        for name, (fields, expected) in cases.items():
            event = ev.parse_event(dict(fields, event=name))
            self.assertEqual(event, expected)
            self.assertEqual(event.kind, name)

    def test_sendFailed_withoutIdOrReason_keepsTheirDefaults(self):
        # An operator message's failure names no id; an older daemon sent neither field.
        self.assertEqual(ev.parse_event({"event": "send_failed", "to": "b", "error": "full"}),
                         ev.SendFailed(to="b", error="full", id=None, reason=""))
        self.assertIn("not a string", ev.parse_event({"event": "send_failed", "to": "b", "error": "x", "reason": 3}).problem)

    def test_messagePayload_mayBeAnyJSON(self):
        for payload in (None, 3, [1, {"a": 2}], {"nested": {"x": True}}):
            self.assertEqual(ev.parse_event({"event": "message", "from": "b", "payload": payload}).payload, payload)

    def test_missingOrMistypedFields_becomeUnparsed_namingTheProblem(self):
        cases = [
            ({"event": "peer_lost", "peer": "b", "node": "n2", "reason": "x"}, "missing 'generation'"),
            ({"event": "peer_lost", "peer": "b", "node": "n2", "generation": "4", "reason": "x"}, "not an integer"),
            ({"event": "peer_relaunched", "peer": "b", "node": "n2", "generation": True}, "not an integer"),
            ({"event": "peer_stopped", "peer": 7}, "not a string"),
            ({"event": "message", "payload": 1}, "missing 'from'"),
            ({"event": "quorum_lost", "nodes": 2}, "unknown event"),
            ({"event": 5}, "not a string"),
        ]
        for raw, problem in cases:
            event = ev.parse_event(raw)
            self.assertIsInstance(event, ev.Unparsed, raw)
            self.assertIn(problem, event.problem)
            self.assertEqual(event.raw, raw)

    def test_eventName_acceptsNamesAndClasses(self):
        self.assertEqual(ev.event_name(ev.PeerLost), "peer_lost")
        self.assertEqual(ev.event_name("member_dead"), "member_dead")


class WireTests(unittest.TestCase):
    def test_splitter_joinsPartialLines_andSkipsBlankOnes(self):
        splitter = LineSplitter()
        self.assertEqual(splitter.feed(b'{"a":1}\n{"b"'), [b'{"a":1}'])
        self.assertEqual(splitter.feed(b':2}\n\n'), [b'{"b":2}'])

    def test_splitter_refusesALineOverTheBound(self):
        splitter = LineSplitter()
        splitter.feed(b"x" * LINE_BYTES_MAX)
        with self.assertRaises(ProtocolError):
            splitter.feed(b"y")

    def test_encode_refusesARequestOverTheBound(self):
        with self.assertRaises(ProtocolError):
            encode({"op": "send", "to": "b", "payload": "x" * LINE_BYTES_MAX})
        self.assertTrue(encode({"op": "ping"}).endswith(b"\n"))

    def test_decode_returnsNone_forWhatIsNotAnObject(self):
        for line in (b"", b"nope", b"[1]", b"\xff\xfe", b"3"):
            self.assertIsNone(decode(line))
        self.assertEqual(decode(b'{"ok":true}'), {"ok": True})

    def test_isEvent_tellsEventsFromReplies(self):
        self.assertTrue(is_event({"event": "peer_stopped", "peer": "b"}))
        self.assertFalse(is_event({"ok": True, "event": "x"}))
        self.assertFalse(is_event({"ok": True}))

    def test_replies_parseLeniently(self):
        hello = Hello.from_reply({"ok": True, "agent": "a", "node": "n1", "generation": "2", "relaunched": 1})
        self.assertEqual((hello.generation, hello.relaunched, hello.checkpoint), (0, False, None))
        member = Member.from_json({"name": "n1", "state": "alive", "capacity": "lots", "tags": {"a": 1, "b": "c"}})
        self.assertEqual((member.capacity, member.tags), (0, {"b": "c"}))
        record = AgentRecord.from_json({"name": "a", "guardians": ["g", 3], "pid": 12})
        self.assertEqual((record.guardians, record.pid, record.state), (["g"], 12, ""))
        self.assertEqual(parse_checkpoint({"ok": True, "seq": 3, "replicas": 2}).seq, 3)


if __name__ == "__main__":
    unittest.main()
