"""Kept for importers outside the realtime code (chat/health.py, tests/test_limits.py):
the delivery machinery lives in chat/realtime/. New code imports chat.realtime."""

from chat.realtime import current
from chat.realtime.connection import CLOSE_IDLE

__all__ = ["CLOSE_IDLE", "current"]
