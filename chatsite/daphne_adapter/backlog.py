"""Patch: the listen backlog of daphne's sockets. Twisted listens with a backlog of 50:
when a restarted process comes back, or the other one takes its clients, thousands of
clients connect at once and every SYN past those 50 is dropped and retried by the
client's kernel after 1 s, 3 s, 7 s … Each TCP/SSL/UNIX endpoint without its own
`backlog=` gets CHAT_LISTEN_BACKLOG (the kernel caps it at net.core.somaxconn).
Applied from checks.install, never at import."""

import functools
import re
from typing import Any

from django.conf import settings

from chatsite.daphne_adapter.internals import Internals
from chatsite.daphne_adapter.needs import DAPHNE, Patch, takes

_WITH_BACKLOG = re.compile(r"^(tcp6?|ssl|unix):")


def with_backlog(description: str, backlog: int) -> str:
    """The endpoint description with `backlog=` added where its kind takes one and it
    has none (an explicit `-e tcp:…:backlog=N` wins)."""
    if backlog <= 0 or not _WITH_BACKLOG.match(description):
        return description
    if re.search(r"(^|:)backlog=", description):
        return description
    return f"{description}:backlog={backlog}"


def _apply(internals: Internals) -> None:
    server = internals.server
    run = server.run

    @functools.wraps(run)
    def run_with_backlog(self: Any) -> Any:
        backlog = settings.CHAT_LISTEN_BACKLOG
        self.endpoints = [with_backlog(str(e), backlog) for e in self.endpoints]
        return run(self)

    server.run = run_with_backlog


PATCH = Patch(
    name="listen_backlog",
    check_id="chat.W108",
    fallback="Twisted's listen backlog of 50 unless the endpoint says `backlog=N` "
    "(`-e tcp:port=…:backlog=1024`)",
    needs=(takes("server", "run"), takes("server", "__init__", "endpoints"), DAPHNE),
    apply=_apply,
)
