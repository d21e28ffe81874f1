"""Realtime delivery: the per-process hub, connections' per-room streams, seq ordering,
the periodic sync and the graceful stop. Reads the database through reads.py only (whose
selectors do import the models); no module here imports chat.models or the services
itself (the contracts in .importlinter)."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chat.realtime.runtime import Runtime


def current() -> "Runtime":
    """This process's realtime runtime (see runtime.py)."""
    from chat.realtime.runtime import current as runtime_current

    return runtime_current()
