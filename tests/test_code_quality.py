"""The house checks run with the suite: ruff (lint and format) and mypy (strict)."""

import subprocess
import sys

import pytest

from tests.servers import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy", "chat", "chatsite", "tests", "accounts", "notify"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_code_passes_house_checks(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
