"""docs/integrations.md's examples work as written: the outgoing-webhook bot (its
Python block, run as is in a real process on loopback) answers a request signed the
way the issue specifies, and refuses a wrong, stale or missing signature; the bot is at
most 20 lines; the YAML examples parse; the GitHub Actions step, run by bash with real
jq and curl against a receiver on loopback, posts a payload the hook reads into a card."""

import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from chat.content.slack import payload_parse
from integrations import deliveries
from tests.servers import ROOT, free_port

DOC = ROOT / "docs" / "integrations.md"
SECRET = "s3cret-from-webhook-create-outgoing"
BOT_MAX_LINES = 20
STARTUP_SECONDS = 10.0


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC.read_text(), re.M | re.S)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """X-Chat-Signature as the server makes it (integrations/deliveries.py), checked
    against the issue's definition: sha256=<hex HMAC-SHA256(secret, timestamp + "." +
    body)>."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    made = deliveries.signature(secret, timestamp, body)
    assert made == "sha256=" + digest.hexdigest()
    return made


@pytest.fixture
def bot_url(tmp_path: Path) -> Iterator[str]:
    (script,) = _blocks("python")
    path = tmp_path / "bot.py"
    path.write_text(script)
    port = free_port()
    env = {**os.environ, "CHAT_HOOK_SECRET": SECRET, "PORT": str(port)}
    process = subprocess.Popen([sys.executable, str(path)], env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/chat"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                _post(url, b"{}", {})
                break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the bot did not start"
                time.sleep(0.05)
        yield url
    finally:
        process.kill()
        process.wait()
        if process.stderr:
            process.stderr.close()


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _delivery(body_text: str) -> bytes:
    message = {"id": 42, "room": "ops", "seq": 7, "author": "alice", "body": body_text}
    payload = {
        "token": "3",
        "room": "ops",
        "trigger_word": "!echo",
        "user_name": "alice",
        "message": message,
    }
    return json.dumps(payload).encode()


def test_the_bot_in_the_doc_is_at_most_twenty_lines() -> None:
    (script,) = _blocks("python")
    assert len(script.splitlines()) <= BOT_MAX_LINES


def test_the_doc_bot_answers_a_correctly_signed_delivery(bot_url: str) -> None:
    body = _delivery("!echo deploy api")
    stamp = str(int(time.time()))
    status, answer = _post(
        bot_url, body, {"X-Chat-Timestamp": stamp, "X-Chat-Signature": sign(SECRET, stamp, body)}
    )
    assert status == 200
    assert json.loads(answer) == {"text": "echo: !echo deploy api"}


@pytest.mark.parametrize(
    "case", ["wrong secret", "body changed", "stale timestamp", "no signature", "no timestamp"]
)
def test_the_doc_bot_refuses_a_delivery_it_cannot_trust(bot_url: str, case: str) -> None:
    body = _delivery("!echo hi")
    now = str(int(time.time()))
    headers = {"X-Chat-Timestamp": now, "X-Chat-Signature": sign(SECRET, now, body)}
    if case == "wrong secret":
        headers["X-Chat-Signature"] = sign("another secret", now, body)
    elif case == "body changed":
        body = _delivery("!echo something else")
    elif case == "stale timestamp":
        old = str(int(time.time()) - 3600)
        headers = {"X-Chat-Timestamp": old, "X-Chat-Signature": sign(SECRET, old, body)}
    elif case == "no signature":
        del headers["X-Chat-Signature"]
    else:
        del headers["X-Chat-Timestamp"]
    status, _ = _post(bot_url, body, headers)
    assert status == 401


def test_the_yaml_examples_parse() -> None:
    examples = [yaml.safe_load(block) for block in _blocks("yaml")]
    alertmanager = next(e for e in examples if isinstance(e, dict) and "receivers" in e)
    (slack,) = alertmanager["receivers"][0]["slack_configs"]
    assert slack["api_url"].startswith("https://chat.example.com/hooks/")
    grafana = next(e for e in examples if isinstance(e, dict) and "contactPoints" in e)
    assert grafana["contactPoints"][0]["receivers"][0]["type"] == "slack"
    steps = next(e for e in examples if isinstance(e, dict) and "notify" in e)
    assert "curl" in steps["notify"]["steps"][0]["run"]


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.skipif(not (shutil.which("jq") and shutil.which("curl")), reason="needs jq and curl")
def test_the_github_actions_step_posts_a_payload_the_hook_reads() -> None:
    steps = next(
        e for e in map(yaml.safe_load, _blocks("yaml")) if isinstance(e, dict) and "notify" in e
    )
    step = steps["notify"]["steps"][0]
    _Receiver.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {
            "PATH": os.environ["PATH"],
            "CHAT_WEBHOOK_URL": f"http://127.0.0.1:{server.server_address[1]}/hooks/key",
            "RESULT": "failure",
            "RUN_URL": "https://github.com/acme/api/actions/runs/7",
            "COMMIT": 'Fix "quotes" and `ticks` $(not run)',
            "GITHUB_REPOSITORY": "acme/api",
            "GITHUB_REF_NAME": "main",
            "GITHUB_ACTOR": "alice",
        }
        assert set(step["env"]) <= set(env)
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", step["run"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    (body,) = _Receiver.bodies
    slack = payload_parse(json.loads(body))
    assert slack.username == "GitHub Actions"
    assert 'data-color="#a30200"' in slack.card_html  # "danger": the run failed
    assert "Fix &quot;quotes&quot;" in slack.card_html or 'Fix "quotes"' in slack.card_html
    assert "By: alice" in slack.fallback
