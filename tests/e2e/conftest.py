from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.e2e.browser import CHROMIUM


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if REQUIRE_SERVICES:
            pytest.fail(f"{CHROMIUM} is required in CI but missing", pytrace=False)
        pytest.skip(f"{CHROMIUM} not installed on this machine")
    return CHROMIUM
