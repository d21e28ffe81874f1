"""Patch: autobahn's opening of every connection formats its ~40 options with
`pprint.pformat` for a debug line, whether debug logging is on or not: ~0.4 ms of CPU
per connect, a fifth of the tutorial's whole connect. The patch hands that line a
value formatted only when the line is written. Applied from checks.install, never at
import."""

import pprint
from typing import Any

from chatsite.daphne_adapter.internals import Internals, Subject
from chatsite.daphne_adapter.needs import AUTOBAHN, Need, Patch, takes


class Formatted:
    """`pprint.pformat(value)` when turned into text, not before."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        return pprint.pformat(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def lazy_pformat(value: Any, *args: Any, **kwargs: Any) -> Any:
    """What autobahn's module calls as `pformat`: lazy for the plain one-argument call,
    the real thing otherwise."""
    if args or kwargs:
        return pprint.pformat(value, *args, **kwargs)
    return Formatted(value)


def _apply(internals: Internals) -> None:
    internals.opening_module.pformat = lazy_pformat


def _formats_eagerly(subject: Subject) -> bool:
    return getattr(subject.internals.opening_module, "pformat", None) in (
        pprint.pformat,
        lazy_pformat,
    )


PATCH = Patch(
    name="lazy_debug",
    check_id="chat.W110",
    fallback="each connect formats autobahn's options for a debug line (~0.4 ms of CPU)",
    needs=(
        takes("protocol", "_connectionMade"),
        Need("{protocol}._connectionMade's module calls pprint.pformat", _formats_eagerly),
        AUTOBAHN,
    ),
    apply=_apply,
)
