"""What a patch relies on in daphne, autobahn and Twisted, stated as data and checked by
introspection (attributes, signatures, instances, versions), never by reading source
text. Nothing here patches anything."""

import importlib.metadata
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass

from chatsite.daphne_adapter.internals import Internals, Subject, qualified


@dataclass(frozen=True)
class Need:
    """One internal a patch relies on: `what` names it for the warning ({server},
    {protocol}, {factory}, {tcp_connection}, {deferred}, {http_request} stand for the
    classes checked)."""

    what: str
    holds: Callable[[Subject], bool]

    def describe(self, internals: Internals) -> str:
        names = {
            field: qualified(getattr(internals, field))
            for field in (
                "server",
                "protocol",
                "factory",
                "tcp_connection",
                "deferred",
                "http_request",
            )
        }
        return self.what.format(**names)


@dataclass(frozen=True)
class Patch:
    """One adaptation: what it needs, the check id that names it when a need is missing,
    what the server does instead, and how to apply it."""

    name: str
    check_id: str
    fallback: str
    needs: tuple[Need, ...]
    apply: Callable[[Internals], None]

    def missing(self, subject: Subject) -> list[str]:
        return [need.describe(subject.internals) for need in self.needs if not need.holds(subject)]


def takes(target: str, method: str, *params: str) -> Need:
    """`target.method` is callable and its signature has these parameter names."""

    def holds(subject: Subject) -> bool:
        function = getattr(getattr(subject.internals, target), method, None)
        if not callable(function):
            return False
        try:
            names = inspect.signature(function).parameters
        except (TypeError, ValueError):
            return not params
        return all(param in names for param in params)

    return Need(f"{{{target}}}.{method}({', '.join(params)})", holds)


def class_has(target: str, attribute: str, kind: type | tuple[type, ...]) -> Need:
    """The class `target` has `attribute`, an instance of `kind`."""

    def holds(subject: Subject) -> bool:
        return isinstance(getattr(getattr(subject.internals, target), attribute, None), kind)

    return Need(f"{{{target}}}.{attribute}", holds)


def instance_has(instance: str, target: str, attribute: str, kind: type | tuple[type, ...]) -> Need:
    """The probe instance `instance` of Subject (built from `target`) has `attribute`."""

    def holds(subject: Subject) -> bool:
        probe = getattr(subject, instance)
        return probe is not None and isinstance(getattr(probe, attribute, None), kind)

    return Need(f"{{{target}}}().{attribute}", holds)


def reactor_has(*methods: str) -> tuple[Need, ...]:
    def need(method: str) -> Need:
        def holds(subject: Subject) -> bool:
            return callable(getattr(subject.internals.reactor, method, None))

        return Need(f"reactor.{method}()", holds)

    return tuple(need(method) for method in methods)


def version(distribution: str, at_least: tuple[int, ...], below: tuple[int, ...]) -> Need:
    """The installed distribution is in the range the patches were written and tested
    against (pyproject.toml states the same bounds): a new major version may keep every
    name and change what they do."""

    def holds(subject: Subject) -> bool:
        try:
            found = _release(importlib.metadata.version(distribution))
        except importlib.metadata.PackageNotFoundError:
            return False
        return at_least <= found < below

    bounds = f">={'.'.join(map(str, at_least))},<{'.'.join(map(str, below))}"
    return Need(f"{distribution}{bounds}", holds)


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text.split("+")[0])[:3])


# The ranges of pyproject.toml's dependencies; a patch lists those whose code it touches.
DAPHNE = version("daphne", (4, 2), (4, 3))
AUTOBAHN = version("autobahn", (26, 10), (27,))
TWISTED = version("twisted", (26, 10), (27,))
