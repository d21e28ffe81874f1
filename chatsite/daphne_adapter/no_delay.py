"""Patch: TCP_NODELAY on every WebSocket connection. Only wraps the protocol's
connectionMade; applied from checks.install, never at import."""

import functools
from typing import Any

from chatsite.daphne_adapter.internals import Internals
from chatsite.daphne_adapter.needs import AUTOBAHN, Patch, takes


def _apply(internals: Internals) -> None:
    protocol = internals.protocol
    connection_made = protocol.connectionMade

    @functools.wraps(connection_made)
    def connection_made_no_delay(self: Any) -> None:
        connection_made(self)
        # Small frames pushed to idle clients must leave at once: with Nagle's algorithm
        # a frame waits for the ACK of the previous one, which delayed ACKs hold ~40 ms.
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)

    protocol.connectionMade = connection_made_no_delay


PATCH = Patch(
    name="tcp_nodelay",
    check_id="chat.W102",
    fallback="sockets keep Nagle's algorithm (small frames may wait ~40 ms)",
    needs=(takes("protocol", "connectionMade"), AUTOBAHN),
    apply=_apply,
)
