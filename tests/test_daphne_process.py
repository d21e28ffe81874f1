"""What a daphne process is given besides the adapter's patches: nothing at import (no
patch, no signal handler, no setting), and at start the garbage collector's threshold
and the freeze of what was loaded (chatsite/daphne_adapter/__init__.py). Each in a
process of its own: the test process keeps Python's."""

import os
import subprocess
import sys

import pytest

from tests.servers import ROOT

IMPORT_EVERYTHING = """
import pkgutil, signal, sys
import django
django.setup()
import chatsite.daphne_adapter as adapter
for module in pkgutil.iter_modules(adapter.__path__):
    __import__(f"chatsite.daphne_adapter.{module.name}")
from daphne.server import Server
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
patched = [  # each patch wraps with functools.wraps, which sets __wrapped__
    hasattr(function, "__wrapped__")
    for function in (
        WebSocketProtocol.serverClose, WebSocketProtocol.connectionMade,
        WebSocketProtocol.sendMessage, WebSocketFactory.setProtocolOptions,
        Server.create_application,
    )
]
import gc
print(any(patched), signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, sys.getswitchinterval())
print(gc.get_threshold()[0], gc.get_freeze_count() == 0)
"""


def django_env(**extra: str) -> dict[str, str]:
    """A process of the project's own (no database or Redis needed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHAT_"))}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DJANGO_ALLOWED_HOSTS": "localhost",
        "DJANGO_SECRET_KEY": "adapter-test-" * 5,
        **extra,
    }


def test_importing_the_adapter_patches_nothing() -> None:
    # daphne's app imports daphne.server (and so Twisted's reactor) in every Django
    # process; what must not happen at import is a patch, a signal handler, a setting.
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING],
        cwd=ROOT,
        env=django_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.split() == ["False", "True", "0.005", "700", "True"], (
        result.stdout + result.stderr
    )


TUNE = """
import gc
import django
django.setup()
from django.conf import settings
from chatsite.daphne_adapter import collector_tuned
collector_tuned(settings.CHAT_GC_GEN0_THRESHOLD)
print(*gc.get_threshold(), gc.get_freeze_count() > 1000)
"""


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("", ["50000", "10", "10", "True"]), ("0", ["700", "10", "10", "False"])],
)
def test_the_collector_is_tuned_as_the_setting_says(setting: str, expected: list[str]) -> None:
    extra = {"CHAT_GC_GEN0_THRESHOLD": setting} if setting else {}
    result = subprocess.run(
        [sys.executable, "-c", TUNE],
        cwd=ROOT,
        env=django_env(**extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.split() == expected, result.stdout + result.stderr
