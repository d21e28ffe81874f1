"""Patch: the client frame and message size limit (CHAT_MAX_FRAME_BYTES) replaces
daphne's. Only wraps the factory's setProtocolOptions; applied from checks.install."""

import functools
from typing import Any

from django.conf import settings

from chatsite.daphne_adapter.internals import Internals
from chatsite.daphne_adapter.needs import AUTOBAHN, DAPHNE, Patch, takes

_LIMITS = ("maxFramePayloadSize", "maxMessagePayloadSize", "failByDrop")


def _apply(internals: Internals) -> None:
    factory = internals.factory
    set_protocol_options = factory.setProtocolOptions

    # wraps: the signature stays visible, so a second check still sees the original's.
    @functools.wraps(set_protocol_options)
    def set_protocol_options_limited(self: Any, *args: object, **options: object) -> None:
        # daphne passes its own sizes (1 MiB); ours replace them. autobahn then fails a
        # bigger frame or message from a client with 1009 before reading it whole, and
        # with failByDrop off it says so in a close frame instead of cutting the TCP.
        limit = settings.CHAT_MAX_FRAME_BYTES
        if limit > 0:
            options.update(maxFramePayloadSize=limit, maxMessagePayloadSize=limit, failByDrop=False)
        set_protocol_options(self, *args, **options)

    factory.setProtocolOptions = set_protocol_options_limited


PATCH = Patch(
    name="frame_limits",
    check_id="chat.W103",
    fallback="daphne's own 1 MiB limits apply; CHAT_MAX_FRAME_BYTES is ignored",
    needs=(takes("factory", "setProtocolOptions", *_LIMITS), DAPHNE, AUTOBAHN),
    apply=_apply,
)
