"""kith-llm-agent against a scripted chat endpoint and a fake daemon: decisions, records, every fallback."""
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kith import Agent, Identity
from kith.chat import ChatError, parse_completion
from kith.llm_agent import HISTORIES, RECORD_BYTES_MAX, LLMAgent, Settings, record_text, settings_from
from tests.fakes import FakeChat, FakeDaemon, text_answer, tool_call_answer, unused_port, wait_until

LOST_B1 = {"event": "peer_lost", "peer": "b1", "node": "n2", "generation": 1, "reason": "host died"}


class LLMAgentTests(unittest.TestCase):
    def setUp(self):
        self.daemon = FakeDaemon(node="n3").start()
        self.addCleanup(self.daemon.close)

    def start(self, script=None, url=None, **settings):
        """Runs an LLM agent (a1, protecting b1) on a thread; the chat endpoint follows `script`."""
        if script is not None:
            self.chat = FakeChat(script)
            self.addCleanup(self.chat.close)
            url = self.chat.url
        options = dict(url=url or "", model="test-model", api_key="k", timeout=0.5, policy="none",
                       protects=["b1"], history="cooperative", max_rounds=4)
        options.update(settings)
        agent = Agent(Identity(agent="a1", socket=self.daemon.path, token="secret", node="n3"), reconnect=None)
        self.llm = LLMAgent(agent, Settings(**options))
        failures = []

        def run():
            try:
                agent.run(duration=30)
            except Exception as error:  # the test fails on it below
                failures.append(error)
        thread = threading.Thread(target=run, daemon=True)
        thread.start()

        def stop():
            agent.stop()
            thread.join(timeout=10)
            agent.client.close()
            self.assertFalse(thread.is_alive(), "the agent's loop must end")
            self.assertEqual(failures, [], "the agent must not crash")
        self.addCleanup(stop)
        wait_until(lambda: self.daemon.connections and self.records("llm_system"), what="the agent to start")
        return agent

    def records(self, kind=None):
        """The agent's own records: (kind, fields) from its reports about itself, each within what
        the daemon keeps of a status (a longer one would reach the event log cut, its JSON broken)."""
        out = []
        for report in self.daemon.ops("report"):
            if report.get("peer") != "a1":
                continue
            self.assertLessEqual(len(report["status"].encode()), RECORD_BYTES_MAX, report["status"][:200])
            name, _, text = report["status"].partition(" ")
            if kind is None or name == kind:
                out.append((name, json.loads(text)))
        return out if kind is None else [fields for _, fields in out]

    def peer_reports(self):
        return [(r["peer"], r["status"]) for r in self.daemon.ops("report") if r.get("peer") != "a1"]

    # MARK: A decision driven by the model

    def test_peerLost_modelCallsRelaunch_theRequestReachesTheDaemon_andEveryStepIsRecorded(self):
        self.start([tool_call_answer(("relaunch", {"peer": "b1"}), ("report", {"peer": "b1", "status": "down"})),
                    text_answer("I asked for b1 to be relaunched on another node.")])
        self.daemon.push(LOST_B1)
        wait_until(lambda: self.records("llm_reply") and len(self.records("llm_reply")) == 2, what="two model calls")

        self.assertEqual([r["peer"] for r in self.daemon.ops("relaunch")], ["b1"], "the model's relaunch, once")
        self.assertEqual(self.peer_reports(), [("b1", "down")])

        first, second = self.chat.requests
        self.assertEqual(first["path"], "/v1/chat/completions")
        self.assertEqual(first["auth"], "Bearer k")
        body = first["body"]
        self.assertEqual(body["model"], "test-model")
        self.assertEqual([t["function"]["name"] for t in body["tools"]],
                         ["relaunch", "report", "send", "checkpoint", "members", "agents"])
        system, user = body["messages"]
        self.assertIn("You are a1", system["content"])
        self.assertIn(HISTORIES["cooperative"].format(peers="b1"), system["content"])
        self.assertIn("peer_lost", user["content"])
        self.assertIn("b1", user["content"])
        tool_messages = [m for m in second["body"]["messages"] if m["role"] == "tool"]
        self.assertEqual([m["tool_call_id"] for m in tool_messages], ["call_0", "call_1"])
        self.assertEqual(json.loads(tool_messages[0]["content"]), {"ok": True, "target": "n2"})
        self.assertEqual(second["body"]["messages"][2]["tool_calls"][0]["function"]["name"], "relaunch")

        kinds = [kind for kind, _ in self.records()]
        self.assertEqual(kinds, ["llm_system", "llm_call", "llm_reply", "tool_call", "tool_call", "llm_call", "llm_reply"])
        calls = self.records("tool_call")
        self.assertEqual(calls[0], {"episode": 1, "name": "relaunch", "arguments": {"peer": "b1"},
                                    "result": {"ok": True, "target": "n2"}})
        self.assertIn("peer_lost", self.records("llm_call")[0]["told"])
        self.assertEqual(self.records("llm_reply")[1]["content"], "I asked for b1 to be relaunched on another node.")
        self.assertEqual(self.records("llm_error"), [])
        self.assertEqual(self.records("llm_fallback"), [])

    def test_uncooperativeHistory_isWhatTheModelIsTold(self):
        self.start([text_answer("I will not help.")], history="uncooperative")
        self.daemon.push(LOST_B1)
        wait_until(lambda: self.records("llm_reply"), what="the model's answer")
        self.assertIn(HISTORIES["uncooperative"].format(peers="b1"), self.chat.requests[0]["body"]["messages"][0]["content"])
        self.assertEqual(self.daemon.ops("relaunch"), [], "a model that decides nothing relaunches nothing")
        self.assertIn("uncooperative" if False else "not been good partners", self.records("llm_system")[0]["prompt"])

    def test_everyAgentAPITool_isCarriedOut(self):
        self.start([tool_call_answer(("members", {}), ("agents", {}), ("send", {"to": "b2", "payload": {"hi": 1}}),
                                     ("checkpoint", {"data": {"saw": "b1"}})),
                    text_answer("done")])
        self.daemon.push(LOST_B1)
        wait_until(lambda: len(self.records("llm_reply")) == 2, what="two model calls")
        results = {c["name"]: c["result"] for c in self.records("tool_call")}
        self.assertEqual(results["members"]["members"][1], {"name": "n2", "state": "dead"})
        self.assertEqual(results["agents"]["agents"][0]["state"], "lost")
        self.assertEqual(self.daemon.ops("send")[0]["payload"], {"hi": 1})
        self.assertEqual(results["checkpoint"]["seq"], 1)
        self.assertEqual(self.daemon.checkpoint, {"saw": "b1"})

    def test_aRefusedRelaunch_isToldToTheModel_notAFallback(self):
        self.daemon.answers["relaunch"] = {"ok": False, "error": "relaunches are frozen by halt until resume"}
        self.start([tool_call_answer(("relaunch", {"peer": "b1"})), text_answer("It was refused.")], policy="relaunch")
        self.daemon.push(LOST_B1)
        wait_until(lambda: len(self.records("llm_reply")) == 2, what="two model calls")
        told = [m for m in self.chat.requests[1]["body"]["messages"] if m["role"] == "tool"][0]["content"]
        self.assertIn("frozen by halt", told)
        self.assertEqual(len(self.daemon.ops("relaunch")), 1)
        self.assertEqual(self.records("llm_fallback"), [])

    def test_aToolCallOverTheLineBound_isARefusalToldToTheModel(self):
        self.start([tool_call_answer(("send", {"to": "b2", "payload": "x" * (1 << 20)})), text_answer("too big")])
        self.daemon.push(LOST_B1)
        wait_until(lambda: len(self.records("llm_reply")) == 2, what="two model calls")
        call = self.records("tool_call")[0]
        self.assertIn("chars clipped", call["arguments"]["payload"], "the record keeps a readable prefix")
        result = call["result"]
        self.assertFalse(result["ok"])
        self.assertIn("line bound", result["error"])
        self.assertEqual(self.daemon.ops("send"), [], "nothing over the bound reaches the daemon")
        self.agent_still_serves()

    def test_aLongReplyAndManyToolCalls_areRecordedWithinTheDaemonsBound_asValidJSON(self):
        calls = [("send", {"to": "b%d" % i, "payload": "é" * 300}) for i in range(6)]
        self.start([tool_call_answer(*calls), text_answer("ü" * 5000)])
        self.daemon.push(LOST_B1)
        wait_until(lambda: len(self.records("llm_reply")) == 2, what="two model calls")
        first_reply, last_reply = self.records("llm_reply")
        self.assertIn("clipped", first_reply, "six tool calls of 300 escaped characters do not fit: a prefix is kept")
        self.assertTrue(first_reply["clipped"].startswith('{"episode":1'))
        self.assertIn("chars clipped", last_reply["content"], "a long answer keeps a readable prefix")
        self.assertEqual(len(self.records("tool_call")), 6)
        self.assertEqual(len(self.daemon.ops("send")), 6, "what is recorded is cut, not what is done")

    def test_recordText_fitsTheBound_whateverItQuotes(self):
        for fields in ({"episode": 1, "s": "\\" * 2000}, {"episode": 2, "s": ["\"" * 699] * 9},
                       {"episode": 3, "s": "\u2028" * 700}, {"episode": 4}):
            text = record_text("llm_call", fields)
            self.assertLessEqual(len(text.encode()), RECORD_BYTES_MAX)
            kind, _, body = text.partition(" ")
            self.assertEqual(kind, "llm_call")
            self.assertEqual(json.loads(body)["episode"], fields["episode"])
        self.assertEqual(json.loads(record_text("llm_call", {"episode": 4}).partition(" ")[2]), {"episode": 4},
                         "a record that fits is kept whole")

    # MARK: The endpoint fails: logged as such, the declared policy applies, the agent goes on

    def check_fallback(self, kind, policy="relaunch", detail=None, **start):
        self.start(policy=policy, **start)
        begun = time.monotonic()
        self.daemon.push(LOST_B1)
        fallback = wait_until(lambda: self.records("llm_fallback"), what="the fallback")[0]
        self.assertLess(time.monotonic() - begun, 5, "a failing endpoint must not hold the agent")
        errors = self.records("llm_error")
        self.assertEqual([e["kind"] for e in errors], [kind])
        if detail:
            self.assertIn(detail, errors[0]["detail"])
        self.assertEqual(fallback["policy"], policy)
        self.assertEqual(fallback["peer"], "b1")
        wait_until(lambda: self.peer_reports() or policy == "none", what="the fallback's report")
        self.daemon.ops("ping")  # the session still answers
        self.agent_still_serves()
        return fallback

    def agent_still_serves(self):
        self.daemon.push({"event": "message", "from": "b9", "payload": {"ping": 5}})
        wait_until(lambda: any(s["payload"] == {"pong": 5} for s in self.daemon.ops("send")), what="a pong")

    def test_endpointDown_fallsBackToRelaunch(self):
        self.check_fallback("down", url="http://127.0.0.1:%d/v1" % unused_port())
        self.assertEqual([r["peer"] for r in self.daemon.ops("relaunch")], ["b1"])
        self.assertEqual(self.peer_reports(), [("b1", "down")])

    def test_slowEndpoint_timesOut_andFallsBackToRelaunchAndMask(self):
        self.check_fallback("timeout", policy="relaunch-and-mask", script=[("sleep", 3)])
        self.assertEqual([r["peer"] for r in self.daemon.ops("relaunch")], ["b1"])
        self.assertEqual(self.peer_reports(), [("b1", "healthy")])

    def test_rateLimited_isLoggedAsSuch(self):
        self.check_fallback("rate_limited", script=[("status", 429)], detail="retry after 7s")
        self.assertEqual(len(self.daemon.ops("relaunch")), 1)

    def test_serverError_isAnHTTPError(self):
        self.check_fallback("http_error", script=[("status", 500)], detail="500")

    def test_answerNotJSON_isMalformed(self):
        self.check_fallback("malformed", script=[("raw", b"<html>gateway</html>")])

    def test_toolArgumentsNotJSON_isAMalformedToolCall(self):
        self.check_fallback("malformed_tool_call", script=[tool_call_answer(("relaunch", "{peer: b1"))])

    def test_unknownTool_isLogged_andNothingReachesTheDaemon(self):
        self.check_fallback("unknown_tool", policy="none", script=[tool_call_answer(("disable_kill_switch", {}))],
                            detail="disable_kill_switch")
        self.assertEqual(self.daemon.ops("relaunch"), [], "policy none: the fallback does nothing")
        self.assertEqual(self.peer_reports(), [])

    def test_badArguments_areRefusedBeforeTheDaemon(self):
        self.check_fallback("bad_arguments", script=[tool_call_answer(("report", {"peer": "b1", "status": "fine"}))])
        self.assertEqual(self.peer_reports(), [("b1", "down")], "only the fallback's report")

    def test_noEndpointConfigured_fallsBack(self):
        self.check_fallback("not_configured")

    def test_whatTheModelDid_beforeAnError_isNotRepeated(self):
        fallback = self.check_fallback("unknown_tool", script=[tool_call_answer(("relaunch", {"peer": "b1"})),
                                                               tool_call_answer(("escape", {}))])
        self.assertEqual(len(self.daemon.ops("relaunch")), 1, "the model's relaunch stands; no second one")
        self.assertEqual(fallback["actions"], [{"report": "b1", "status": "down"}])

    def test_aModelThatNeverStops_isCutOffAfterMaxRounds(self):
        self.start([tool_call_answer(("members", {}))], max_rounds=3)
        self.daemon.push(LOST_B1)
        errors = wait_until(lambda: self.records("llm_error"), what="the cut-off")
        self.assertEqual(errors[0]["kind"], "rounds_exhausted")
        self.assertEqual(len(self.chat.requests), 3)

    def test_afterAFailure_theNextEventIsDecidedByTheModelAgain(self):
        self.start([("status", 429), tool_call_answer(("relaunch", {"peer": "b1"})), text_answer("ok")])
        self.daemon.push(LOST_B1)
        wait_until(lambda: self.records("llm_fallback"), what="the fallback")
        self.daemon.push(LOST_B1)
        wait_until(lambda: self.records("tool_call"), what="the model's relaunch")
        self.assertEqual(self.records("tool_call")[0]["episode"], 2)


class CompletionParsingTests(unittest.TestCase):
    def test_malformedShapes_areNamed(self):
        cases = [(b"[]", "malformed"), (b'{"choices": []}', "malformed"), (b'{"choices": [{"message": 3}]}', "malformed"),
                 (b'{"choices": [{"message": {"tool_calls": {}}}]}', "malformed_tool_call"),
                 (b'{"choices": [{"message": {"tool_calls": [{"function": {}}]}}]}', "malformed_tool_call"),
                 (b'{"choices": [{"message": {"tool_calls": [{"function": {"name": "x", "arguments": "[1]"}}]}}]}',
                  "malformed_tool_call")]
        for body, kind in cases:
            with self.assertRaises(ChatError) as caught:
                parse_completion(body)
            self.assertEqual(caught.exception.kind, kind, body)

    def test_toolCalls_getIds_andObjectArgumentsAreAccepted(self):
        completion = parse_completion(json.dumps({"choices": [{"message": {"content": None, "tool_calls": [
            {"function": {"name": "members", "arguments": {}}}]}}]}).encode())
        self.assertEqual(completion.tool_calls[0].id, "call_0")
        self.assertEqual(completion.content, "")
        self.assertEqual(completion.message["tool_calls"][0]["function"]["arguments"], "{}")


class SettingsTests(unittest.TestCase):
    def test_environment_thenFlags(self):
        env = {"KITH_LLM_URL": "http://x/v1", "KITH_LLM_MODEL": "m", "KITH_LLM_API_KEY": "sk",
               "KITH_LLM_TIMEOUT_MS": "1500", "KITH_POLICY": "relaunch", "KITH_PROTECTS": "b1, b2",
               "KITH_LLM_HISTORY": "uncooperative"}
        settings = settings_from([], env)
        self.assertEqual((settings.url, settings.model, settings.api_key, settings.timeout, settings.policy,
                          settings.protects, settings.history), ("http://x/v1", "m", "sk", 1.5, "relaunch",
                                                                 ["b1", "b2"], "uncooperative"))
        self.assertEqual(settings_from(["--policy", "none", "--model", "n"], env).policy, "none")

    def test_badFlags_exitTwo(self):
        for argv in (["--policy", "sometimes"], ["--timeout-ms", "0"], ["--max-rounds", "x"], ["--nope"]):
            with self.assertRaises(SystemExit) as caught:
                stderr, sys.stderr = sys.stderr, open(os.devnull, "w")
                try:
                    settings_from(argv, {})
                finally:
                    sys.stderr.close()
                    sys.stderr = stderr
            self.assertEqual(caught.exception.code, 2, argv)


if __name__ == "__main__":
    unittest.main()
