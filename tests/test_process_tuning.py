"""What a serving process tunes besides daphne's internals
(chatsite/daphne_adapter/__init__.py): the garbage collector's threshold and the freeze
of what was loaded at start. In a process of its own: the test process keeps Python's."""

import subprocess
import sys

import pytest

from tests.servers import ROOT
from tests.test_daphne_adapter import django_env

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
