"""The consumer's command table: every client frame the parser can produce has exactly
one handler (a frame type without one would fail at run time, not at parse time)."""

from typing import get_args

from chat.consumers import handlers
from chat.protocol import parsing


def test_every_parsed_command_type_has_a_handler() -> None:
    assert set(handlers.HANDLERS) == set(get_args(parsing.Command))
