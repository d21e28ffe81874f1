"""Custom slash commands (docs/protocol.md, "Slash commands"): registered by staff, run
by POSTing Slack's form to their URL and turning the JSON answer into an `ephemeral`
line for the caller or a message of theirs in the room; plus the `response_url` each
run hands out (integrations/command_views.py takes its posts). The HTTP call runs in a
worker thread, never on the event loop nor the database thread."""

import asyncio
import hashlib
import json
import logging
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from chat import events, selectors
from chat.content.slack import PayloadError, SlackMessage, payload_parse
from chat.database import dbcalls, group_commit
from chat.errors import ChatError
from chat.limits import policy
from chat.protocol.codes import ErrorCode
from chat.protocol.command_frames import BUILTIN_NAMES, BUILTINS, COMMAND_NAME, CommandInfo
from chat.services.commands import client_id_new, ephemeral_frame
from chat.services.posting import RichContent, SendRequest
from integrations import command_http
from integrations.models import CommandResponse, SlashCommand

logger = logging.getLogger(__name__)

RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = timedelta(minutes=30)
RESPONSE_PATH = "/commands/respond/"


# --- registry -------------------------------------------------------------------------


def commands_list() -> list[CommandInfo]:
    """hello.commands: the built-ins, then the enabled custom commands by name. One plain
    statement, no model instances: it is read on every connect, where the ORM's query
    cost ~0.4 ms of CPU."""
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {q('name')}, {q('description')}, {q('usage')}"  # noqa: S608 - names
            f" FROM {q(SlashCommand._meta.db_table)} WHERE {q('enabled')}"
            f" ORDER BY {q('name')}"
        )
        rows = cursor.fetchall()
    listed: list[CommandInfo] = list(BUILTINS)
    listed += [
        {"name": name, "description": about, "usage": usage}
        for name, about, usage in rows
        if name not in BUILTIN_NAMES
    ]
    return listed


def command_create(
    *, name: str, url: str, description: str = "", usage: str = "", created_by: User | None = None
) -> SlashCommand:
    """Register a custom command with a new token (sent with every call, so its server
    knows the call is ours). A built-in's name is refused."""
    name = name.lstrip("/").lower()
    if not COMMAND_NAME.fullmatch(f"/{name}") or name in BUILTIN_NAMES:
        raise ValueError(f"/{name} cannot be a custom command's name")
    if SlashCommand.objects.filter(name=name).exists():
        raise ValueError(f"/{name} exists already")
    return SlashCommand.objects.create(
        name=name,
        url=url,
        token=secrets.token_urlsafe(24),
        description=description,
        usage=usage,
        created_by=created_by,
    )


# --- one run ----------------------------------------------------------------------------


def _command_get(*, name: str) -> SlashCommand | None:
    return SlashCommand.objects.filter(name=name, enabled=True).first()


def response_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def response_url_create(*, command_id: int, user: User, room_id: int) -> str:
    """A new response_url's secret (only its digest is kept)."""
    secret = secrets.token_urlsafe(32)
    CommandResponse.objects.create(
        digest=response_digest(secret),
        command_id=command_id,
        user=user,
        room_id=room_id,
        expires_at=timezone.now() + RESPONSE_URL_LIFETIME,
    )
    return secret


def command_form(
    command: SlashCommand, *, user: User, room_id: int, slug: str, text: str, secret: str
) -> dict[str, str]:
    """The form Slack sends a slash command's URL."""
    return {
        "token": command.token,
        "command": f"/{command.name}",
        "text": text,
        "user_id": str(user.pk),
        "user_name": user.get_username(),
        "channel_id": str(room_id),
        "channel_name": slug,
        "response_url": settings.CHAT_SITE_URL.rstrip("/") + RESPONSE_PATH + secret,
        "trigger_id": secrets.token_hex(16),
    }


def answer_read(answer: command_http.HttpAnswer, name: str) -> SlackMessage | str | None:
    """The command's answer: a message to show, a sentence saying what went wrong, or
    None (an empty 200: the command has nothing to say now, as Slack allows)."""
    if not 200 <= answer.status < 300:
        return f"/{name} failed: its server answered HTTP {answer.status}."
    if not answer.body.strip():
        return None
    try:
        data: Any = json.loads(answer.body)
    except (ValueError, RecursionError):
        # Slack shows a plain-text answer as it is; so do we (ephemeral).
        data = {"text": answer.body.decode("utf-8", "replace")}
    return message_read(data, name)


def message_read(data: object, name: str) -> SlackMessage | str:
    try:
        return payload_parse(data, max_body_chars=settings.CHAT_MAX_BODY_CHARS - 100)
    except PayloadError as error:
        return f"/{name} answered something that cannot be shown ({error.code})."


def in_channel_request(
    message: SlackMessage, *, user: User, room_id: int, name: str, text: str
) -> SendRequest:
    """The caller's message for an `in_channel` answer, the command shown first."""
    typed = f"/{name} {text}".strip()
    shown = "`" + typed.replace("`", "'") + "`"
    return SendRequest(
        room_id=room_id,
        author=user,
        body=f"{typed}\n{message.fallback}".strip(),
        client_id=client_id_new(),
        rich=RichContent(markdown=f"{shown}\n\n{message.markdown}", card_html=message.card_html),
    )


def ephemeral_of(message: SlackMessage, slug: str | None) -> dict[str, object]:
    return ephemeral_frame(
        slug, message.markdown, card_html=message.card_html, text=message.fallback
    )


async def command_run(
    *, user: User, room_id: int, slug: str, name: str, text: str, answer_room: str | None
) -> dict[str, object] | None:
    """Run a custom command for a user in a room: the ephemeral frame to answer the
    caller with, or None (its message was posted, or it said nothing). ChatError
    unknown_command when no enabled command has the name."""
    command = await dbcalls.read(_command_get, name=name)
    if command is None:
        raise ChatError(ErrorCode.UNKNOWN_COMMAND, f"There is no command /{name}.")
    # Each run costs an outgoing request (and may post): it draws from the caller's
    # message budget, so a flood of runs is refused like a flood of messages.
    await policy.current().message_check(user.pk)
    secret = await dbcalls.write(
        response_url_create, command_id=command.pk, user=user, room_id=room_id
    )
    form = command_form(command, user=user, room_id=room_id, slug=slug, text=text, secret=secret)
    timeout = settings.CHAT_COMMAND_TIMEOUT_SECONDS
    try:
        # The socket's own timeout bounds each read; this bounds the whole answer.
        answer = await asyncio.wait_for(
            asyncio.to_thread(command_http.form_post, command.url, form, timeout=timeout),
            timeout + 0.5,
        )
    except (TimeoutError, command_http.CommandTimedOut):
        return ephemeral_frame(answer_room, f"/{name} did not answer within {timeout:g} s.")
    except command_http.CommandFailed as error:
        return ephemeral_frame(answer_room, f"/{name} failed: {error}.")
    # Off the event loop: a 256 KiB answer's parsing and rendering take a CPU moment.
    found = await asyncio.to_thread(answer_read, answer, name)
    if found is None:
        return None
    if isinstance(found, str):
        return ephemeral_frame(answer_room, found)
    if found.response_type != "in_channel":
        return ephemeral_of(found, answer_room)
    await group_commit.current().post(
        in_channel_request(found, user=user, room_id=room_id, name=name, text=text)
    )
    return None


# --- response_url -----------------------------------------------------------------------


class ResponseRefused(Exception):
    """A response_url post that is not taken: unknown, expired or used up (Slack's
    words: `expired_url`, `used_url`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@transaction.atomic
def response_take(secret: str) -> CommandResponse:
    """Count one post on a response_url, or ResponseRefused. The row is locked, so two
    posts racing for the fifth use cannot both take it."""
    found = (
        CommandResponse.objects.select_for_update(of=("self",))
        .select_related("command", "user", "room")
        .filter(digest=response_digest(secret))
        .first()
    )
    if found is None or found.expires_at <= timezone.now():
        raise ResponseRefused("expired_url")
    if found.uses >= RESPONSE_URL_USES:
        raise ResponseRefused("used_url")
    CommandResponse.objects.filter(pk=found.pk).update(uses=F("uses") + 1)
    return found


def response_post(secret: str, data: object) -> None:
    """A post on a response_url (Slack's delayed answer): shown to the caller alone, or
    posted as their message in the room the command ran in, with the command shown.
    ResponseRefused for a URL that is not taken; PayloadError-derived text and
    ChatError (the caller lost the room, the room is locked) for the rest."""
    taken = response_take(secret)
    name = taken.command.name if taken.command is not None else "command"
    message = message_read(data, name)
    if isinstance(message, str):
        raise ResponseRefused("invalid_payload")
    user, room = taken.user, taken.room
    if message.response_type == "in_channel":
        # The command's text is not kept; the answer shows the command alone.
        group_commit.post_sync(
            in_channel_request(message, user=user, room_id=room.pk, name=name, text="")
        )
        return
    access = selectors.access_for(room_id=room.pk, user_id=user.pk)
    if not access["read"]:
        raise ChatError(access["code"] or ErrorCode.FORBIDDEN, access["detail"])
    with transaction.atomic():
        events.publish_on_commit(events.user_frame(user.pk, ephemeral_of(message, room.slug)))
