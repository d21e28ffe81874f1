"""Every patch of the daphne adapter, the check of what each relies on (a Django system
check under `manage.py check --deploy`, ids chat.W101-W110) and their installation.
Importing this registers the check; nothing is patched until install() is called."""

import logging
from collections.abc import Sequence
from typing import Any

from django.core import checks

from chatsite.daphne_adapter import (
    admission,
    backlog,
    close_codes,
    frame_limits,
    internals,
    lazy_debug,
    no_delay,
    raw_send,
    send_after_close,
    serving,
    sigterm,
)
from chatsite.daphne_adapter.internals import Internals, Subject
from chatsite.daphne_adapter.needs import Patch

logger = logging.getLogger(__name__)

PATCHES: tuple[Patch, ...] = (
    close_codes.PATCH,
    no_delay.PATCH,
    frame_limits.PATCH,
    send_after_close.PATCH,
    raw_send.PATCH,
    sigterm.PATCH,
    serving.PATCH,
    backlog.PATCH,
    admission.PATCH,
    lazy_debug.PATCH,
)


def missing(found: Internals) -> dict[str, list[str]]:
    """Patch name -> the internals it relies on and cannot find (only patches with any)."""
    subject = Subject(found)
    gaps = {patch.name: patch.missing(subject) for patch in PATCHES}
    return {name: what for name, what in gaps.items() if what}


def warnings(gaps: dict[str, list[str]]) -> list[checks.CheckMessage]:
    return [
        checks.Warning(
            f"daphne adapter: the {patch.name} patch cannot apply; missing: "
            + ", ".join(gaps[patch.name]),
            hint=f"Served without it: {patch.fallback}. docs/deployment.md says what "
            "each id means; pyproject.toml bounds the tested versions.",
            id=patch.check_id,
        )
        for patch in PATCHES
        if patch.name in gaps
    ]


@checks.register(checks.Tags.compatibility, deploy=True)
def daphne_internals_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Deploy-only: it imports daphne.server, which installs Twisted's reactor."""
    return warnings(missing(internals.load()))


def install(found: Internals, hooks: Sequence[serving.Hook] = ()) -> frozenset[str]:
    """Apply every patch whose needs hold; log each that cannot with its check id (the
    server then runs that part unpatched). Returns the names of the patches applied."""
    gaps = missing(found)
    for warning in warnings(gaps):
        logger.warning("%s: %s (%s)", warning.id, warning.msg, warning.hint)
    applied = frozenset(patch.name for patch in PATCHES if patch.name not in gaps)
    for patch in PATCHES:
        if patch.name in applied:
            patch.apply(found)
    if serving.PATCH.name in applied:
        serving.register(found, hooks)
    return applied
