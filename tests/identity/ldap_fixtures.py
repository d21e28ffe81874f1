"""Fixtures of the LDAP tests (tests/identity/test_ldap*.py import them): a real slapd
per test (tests/identity/slapd.py) and this process's settings pointed at it, exactly
as chatsite/settings.py builds them from CHAT_LDAP_* variables."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accounts.identity import ldap_config
from tests.identity.slapd import Slapd, available, slapd


def require_slapd() -> None:
    reason = available()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} is required in CI", pytrace=False)
    pytest.skip(f"no directory server here: {reason}")


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Slapd]:
    require_slapd()
    with slapd(tmp_path / "slapd") as server:
        yield server


def configure(settings: Any, env: dict[str, str]) -> None:
    """What chatsite/settings.py does when CHAT_LDAP_URL is set, on pytest-django's
    `settings` (restored after the test)."""
    config = ldap_config.ldap_config(env)
    assert config is not None
    settings.CHAT_LDAP = config
    for name, value in ldap_config.auth_ldap_settings(config).items():
        setattr(settings, name, value)
    backends = [b for b in settings.AUTHENTICATION_BACKENDS if b != ldap_config.BACKEND]
    model_backend = backends.index("django.contrib.auth.backends.ModelBackend")
    backends.insert(model_backend, ldap_config.BACKEND)
    settings.AUTHENTICATION_BACKENDS = backends


@pytest.fixture
def ldap_on(directory: Slapd, settings: Any) -> Slapd:
    configure(settings, directory.env())
    return directory
