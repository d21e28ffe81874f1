"""Hooks run while daphne serves: `start` once the reactor runs, `stop` before it shuts
down (a graceful SIGTERM stop included: it ends in reactor.stop()). Public reactor API
only; it registers nothing at import. Used for the in-process job runner (notify/runner.py)."""

from collections.abc import Callable, Sequence

from chatsite.daphne_adapter.internals import Internals
from chatsite.daphne_adapter.needs import Patch, reactor_has

Hook = tuple[Callable[[], object], Callable[[], object]]  # (start, stop)


def register(internals: Internals, hooks: Sequence[Hook]) -> None:
    reactor = internals.reactor
    for start, stop in hooks:
        reactor.callWhenRunning(start)
        reactor.addSystemEventTrigger("before", "shutdown", stop)


def _apply(internals: Internals) -> None:
    """Nothing to patch: checks.install calls register() with the hooks once this one's
    needs hold."""


PATCH = Patch(
    name="serving_hooks",
    check_id="chat.W107",
    fallback="jobs do not run in the daphne processes; run `manage.py chat_worker`",
    needs=reactor_has("callWhenRunning", "addSystemEventTrigger"),
    apply=_apply,
)
