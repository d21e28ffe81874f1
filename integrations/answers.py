"""What an outgoing webhook's bot says in the rooms: the receiver's answer (a Slack
payload, chat/content/slack) and the note to its owner when it is switched off. Both go
through chat's one write path; nothing here sends HTTP."""

import json
import logging
from urllib.parse import urlsplit

from django.conf import settings

from chat import services as chat_services
from chat.content.slack import PayloadError, payload_parse
from chat.errors import ChatError
from chat.models import Message
from chat.ops.egress import Answer
from chat.selectors import MessageOut
from integrations.models import Delivery, OutgoingWebhook

logger = logging.getLogger(__name__)


def answer_post(
    hook: OutgoingWebhook, delivery: Delivery, message: MessageOut, answer: Answer
) -> str | None:
    """Post a 2xx answer's `{"text": …}` (Slack fields allowed) as the hook's bot in the
    message's room — in the message's thread with `"thread": true`. Returns why nothing
    was posted when the answer asked for something that cannot be (None: posted, or
    nothing asked: an empty or non-JSON answer is a plain acknowledgement)."""
    # JSON by its type, or by its look (many small receivers answer JSON as text/plain).
    is_json = "json" in answer.content_type.lower() or answer.body.lstrip().startswith(b"{")
    if not answer.body.strip() or not is_json:
        return None
    try:
        data = json.loads(answer.body)
    except ValueError:
        return "the answer is not JSON"
    if isinstance(data, dict) and not data:
        return None
    try:
        parsed = payload_parse(data, max_body_chars=settings.CHAT_MAX_BODY_CHARS)
    except PayloadError as error:
        return None if error.code == "no_text" else f"answer not posted: {error.detail}"[:200]
    thread: int | None = None
    if parsed.thread_here:
        thread = message["thread"] or message["id"]
    elif parsed.thread is not None:
        thread = parsed.thread
    room_id = Message.objects.filter(pk=message["id"]).values_list("room_id", flat=True).first()
    if room_id is None:
        return "the message's room is gone"
    request = chat_services.SendRequest(
        room_id=room_id,
        author=hook.bot,
        body=parsed.fallback,
        # The same id whatever runs twice: the write path saves it once.
        client_id=f"hook-{delivery.delivery_id}",
        thread=thread,
        rich=chat_services.RichContent(parsed.markdown, parsed.card_html),
        posted_as=chat_services.PostedAs(
            name=parsed.username, avatar=_icon_allowed(parsed.icon_url), emoji=parsed.icon_emoji
        ),
    )
    try:
        chat_services.message_post_one(request)
    except ChatError as error:
        return f"answer not posted: {error.detail}"[:200]
    return None


def _icon_allowed(url: str) -> str:
    """Only an icon the page's CSP lets browsers load (else the bot's own avatar shows).
    CHAT_AVATAR_HOSTS is the incoming hooks' setting (integrations/incoming.py)."""
    hosts = {h.lower() for h in getattr(settings, "CHAT_AVATAR_HOSTS", ())}
    host = (urlsplit(url).hostname or "").lower() if url else ""
    return url if host and host in hosts else ""


def owner_tell(hook: OutgoingWebhook, reason: str, *, delivery: Delivery) -> None:
    """A system message in the direct conversation of the hook's bot and its owner."""
    owner = hook.created_by
    if owner is None or not owner.is_active:
        return
    room = chat_services.dm_open(user=hook.bot, other=owner)
    body = (
        f'Your outgoing webhook "{hook.name}" in #{hook.room.slug} was switched off: {reason}. '
        "Switch it on again on the room's integrations page once its receiver answers."
    )
    try:
        chat_services.message_post_one(
            chat_services.SendRequest(
                room_id=room.pk,
                author=None,
                body=body,
                client_id=f"hook-off-{delivery.delivery_id}",
            )
        )
    except ChatError:
        logger.exception("could not tell the owner of hook %s", hook.pk)
