"""Pure rules of a thread's summary: who shows as its participants."""

from collections.abc import Iterable

MAX_PARTICIPANTS = 5


def participants_after(current: list[str], repliers: Iterable[str]) -> list[str]:
    """The participants once these authors replied (in seq order): the latest replier
    first, each name once, at most MAX_PARTICIPANTS."""
    names = list(current)
    for name in repliers:
        names = [name, *(other for other in names if other != name)]
    return names[:MAX_PARTICIPANTS]


def participants_of(newest_first: Iterable[str]) -> list[str]:
    """The participants from the replies' authors, newest reply first."""
    names: list[str] = []
    for name in newest_first:
        if name not in names:
            names.append(name)
            if len(names) == MAX_PARTICIPANTS:
                break
    return names
