"""Fixtures of the identity tests: the browser tests' Chromium (tests/e2e/conftest.py)."""

from tests.e2e.conftest import chromium_path  # noqa: F401 - a fixture, re-exported here
