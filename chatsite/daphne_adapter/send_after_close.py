"""Patch: a send after the client's close is dropped (not raised), and the client frame
limit does not apply to what the server sends. Applied from checks.install only."""

import functools
from typing import Any

from chatsite.daphne_adapter.internals import Internals
from chatsite.daphne_adapter.needs import AUTOBAHN, Patch, class_has, instance_has, takes


def _apply(internals: Internals) -> None:
    protocol = internals.protocol
    send_message = protocol.sendMessage

    @functools.wraps(send_message)
    def send_message_unlimited(self: Any, *args: object, **kwargs: object) -> None:
        if self.state != self.STATE_OPEN:
            # The client's close frame arrived before daphne told the consumer: the frame
            # could not be delivered anyway (the client resumes with ?after=). autobahn
            # raises Disconnected here, which daphne does not expect.
            return
        # autobahn applies maxMessagePayloadSize to what the server sends as well; the
        # limit is for clients, and a hello with history is legitimately bigger.
        limit, self.maxMessagePayloadSize = self.maxMessagePayloadSize, 0
        try:
            send_message(self, *args, **kwargs)
        finally:
            self.maxMessagePayloadSize = limit

    protocol.sendMessage = send_message_unlimited


PATCH = Patch(
    name="send_after_close",
    check_id="chat.W104",
    fallback="a send racing a client's close logs autobahn's Disconnected; big hellos fail",
    needs=(
        takes("protocol", "sendMessage"),
        class_has("protocol", "STATE_OPEN", int),
        instance_has("open_protocol", "protocol", "state", int),
        # autobahn copies it from the factory onto each protocol at connect.
        instance_has("open_protocol", "protocol", "maxMessagePayloadSize", int),
        AUTOBAHN,
    ),
    apply=_apply,
)
