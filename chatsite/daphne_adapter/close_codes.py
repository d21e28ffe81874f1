"""Patch: the server may close with the registered codes 1001, 1011, 1012 and 1013.
Only wraps autobahn's serverClose; applied from checks.install, never at import."""

import functools
from typing import Any

from chat.protocol.codes import CloseCode
from chatsite.daphne_adapter.internals import Internals
from chatsite.daphne_adapter.needs import AUTOBAHN, DAPHNE, Patch, takes

# Registered close codes a server may send that autobahn's sendClose() refuses (it only
# takes 1000 and 3000-4999 from applications); they go through its sendCloseFrame().
# 1013 (try again later) is not one this server sends, so it is not in the registry.
SERVER_CLOSE_CODES = frozenset(
    {CloseCode.GOING_AWAY, CloseCode.INTERNAL_ERROR, CloseCode.SERVICE_RESTART, 1013}
)


def _apply(internals: Internals) -> None:
    protocol = internals.protocol
    send_close = protocol.serverClose

    @functools.wraps(send_close)
    def server_close(self: Any, code: int | None = None) -> None:
        if code in SERVER_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            send_close(self, code)

    protocol.serverClose = server_close


PATCH = Patch(
    name="close_codes",
    check_id="chat.W101",
    fallback="daphne closes with its own code instead of 1001/1011/1012/1013",
    needs=(
        takes("protocol", "serverClose", "code"),
        takes("protocol", "sendCloseFrame", "code", "isReply"),
        DAPHNE,
        AUTOBAHN,
    ),
    apply=_apply,
)
