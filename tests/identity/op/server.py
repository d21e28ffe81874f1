"""Start and stop the test OpenID Provider (a process of its own, see __main__)."""

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers import ROOT, free_port

STARTUP_TIMEOUT_SECONDS = 30
CLIENT_ID = "chat-test"
CLIENT_SECRET = "chat-test-secret"


@dataclass
class OpenIdProvider:
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/openid"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def control(self, **params: str) -> None:
        """The test's levers (hooks.control): sub, nonce, hold; user=<name> and its fields."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/test/control/?{query}", timeout=10) as resp:
            assert resp.status == 200

    def provider_setting(self, provider_id: str = "test", name: str = "Test ID") -> dict[str, str]:
        """This provider as an entry of CHAT_OIDC_PROVIDERS."""
        return {
            "id": provider_id,
            "name": name,
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scopes": "openid email profile",
        }


@contextmanager
def openid_provider(
    work_dir: Path, *, redirect_uris: list[str], users: list[dict[str, Any]]
) -> Iterator[OpenIdProvider]:
    """A running provider with one confidential client (CLIENT_ID, redirect_uris) and
    these users, answering its discovery document."""
    port = free_port()
    config = {
        "clients": [
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": redirect_uris}
        ],
        "users": users,
    }
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.identity.op.settings",
        "OP_DB": str(work_dir / "op.sqlite3"),
        "OP_SITE_URL": f"http://127.0.0.1:{port}",
        "OP_CONFIG": json.dumps(config),
    }
    log_path = work_dir / f"op-{port}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.identity.op", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    op = OpenIdProvider(port=port, proc=proc, log_path=log_path)
    try:
        _wait_ready(op)
        yield op
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _wait_ready(op: OpenIdProvider) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    discovery = f"{op.issuer}/.well-known/openid-configuration"
    while time.monotonic() < deadline:
        if op.proc.poll() is not None:
            raise RuntimeError(f"the test OpenID Provider exited at start:\n{op.log()}")
        try:
            with urllib.request.urlopen(discovery, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the test OpenID Provider did not answer:\n{op.log()}")
