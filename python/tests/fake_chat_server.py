#!/usr/bin/env python3
"""The scripted chat-completions endpoint of tests/fakes.py as a process, for the real-lab test.

usage: fake_chat_server.py SCRIPT_JSON URL_FILE REQUESTS_FILE SECONDS
Writes its base URL to URL_FILE once listening, appends every request body
to REQUESTS_FILE (one JSON line each), and exits after SECONDS.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tests.fakes import FakeChat  # noqa: E402

script, url_file, requests_file, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
chat = FakeChat(json.loads(script))
with open(url_file + ".tmp", "w") as out:
    out.write(chat.url)
os.rename(url_file + ".tmp", url_file)
written = 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    time.sleep(0.05)
    with open(requests_file, "a") as out:
        for request in chat.requests[written:]:
            out.write(json.dumps(request["body"]) + "\n")
            written += 1
chat.close()
