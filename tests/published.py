"""The tests' seam on the one publish verb: every event leaves through
`chat.events.publish.layer_send`, so recording, losing or failing publishes happens
there, on the path every service's publish really takes."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from chat import services
from chat.database import dbcalls
from chat.events import Publication
from chat.events import publish as publishing
from chat.selectors import MessageOut


def intercept(
    monkeypatch: pytest.MonkeyPatch, *, lose: Callable[[Publication], bool] = lambda p: False
) -> list[Publication]:
    """Record every publication (and still send it, unless `lose` says it is lost on the
    way: never reaching the channel layer, as when Redis drops it)."""
    seen: list[Publication] = []
    real = publishing.layer_send

    async def layer_send(publication: Publication) -> None:
        seen.append(publication)
        if not lose(publication):
            await real(publication)

    monkeypatch.setattr(publishing, "layer_send", layer_send)
    return seen


def of_type(kind: str) -> Callable[[Publication], bool]:
    return lambda publication: publication.event["type"] == kind


def saved_seqs(seen: list[Publication]) -> list[tuple[int, int]]:
    """(room id, seq) of every message published, in publish order."""
    return [
        (int(item[0]), int(item[1]))
        for publication in seen
        if publication.event["type"] == "chat.messages"
        for item in publication.event["items"]
    ]


async def post_unpublished(
    monkeypatch: pytest.MonkeyPatch, *, room_id: int, author: User, body: str, client_id: str
) -> MessageOut:
    """Save a message whose event is lost on the way (the layer never sees it), as a
    frame's service call does: it returns once the publish has been tried."""
    with monkeypatch.context() as losing:
        intercept(losing, lose=of_type("chat.messages"))
        saved: MessageOut = await dbcalls.write(
            services.message_post, room_id=room_id, author=author, body=body, client_id=client_id
        )
    return saved
