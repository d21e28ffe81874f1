"""The outermost layer of the WebSocket stack: a database away at the handshake (a
PostgreSQL restart or failover) refuses the connect quietly instead of failing it.

A database failure during a connect's reads (the session and user, then the rooms:
chat/consumers/opening.py) escapes the consumer as an exception: daphne answered 500 and
logged a traceback for every attempt of every reconnecting page. Here the handshake is refused
(403, as any refused connect) and the outage is logged once; the page tries again with
its reconnect backoff. Any other error is left to propagate as before."""

import logging
from typing import Any

from chat.database.outage import OutageLog, is_outage
from chat.protocol.codes import CloseCode

logger = logging.getLogger(__name__)

_log = OutageLog(logger, "socket handshake")


class OutageGuard:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        try:
            result = await self.inner(scope, receive, send)
        except Exception as error:
            if not is_outage(error):
                raise
            _log.failed(error)
            # Before the accept this refuses the handshake; after it (a consumer that
            # let an outage escape) it closes the socket, and the page resumes.
            await send({"type": "websocket.close", "code": CloseCode.INTERNAL_ERROR})
            return None
        _log.ok()
        return result
