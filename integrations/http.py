"""`POST /hooks/<key>`: Slack's incoming-webhook contract, served as a small ASGI app
routed in chatsite/asgi.py before Django's middleware. Thin: read the body (bounded),
find the hook, take its rate token, build the send (integrations/incoming.py), save it
through the process's group commit, answer as Slack does (plain text).

Why not a Django view: no session, no CSRF, no cookie is the contract, and the
middleware chain cost most of a hook's CPU. Under ASGI, Django runs each sync-only
middleware (WhiteNoise) and each MiddlewareMixin hook through a thread hop; a sync view
also ran each request on a thread of its own, which opened (and kept, CONN_MAX_AGE) a
PostgreSQL connection of its own. The bench at 200 requests/s measured 8.5 ms of server
CPU per request that way and ran PostgreSQL out of connections. Here the lookups and the
payload's parsing run on the process's read threads (chat/database/dbcalls.py) and the
save joins the group commit's batches, as a socket's send does."""

import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from channels.routing import URLRouter
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.urls import path

from chat.database import dbcalls, group_commit
from chat.errors import ChatError
from chat.limits import blocking
from chat.protocol.codes import HOOK_STATUS, HookAnswer
from chat.services.posting import SendRequest
from integrations import incoming
from integrations.incoming import HookRefused

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FORM = "application/x-www-form-urlencoded"
NOT_JSON = (ValueError, RecursionError)  # UnicodeDecodeError is a ValueError


async def _respond(
    send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": text.encode()})


async def _hook_answer(send: Send, answer: HookAnswer, retry_after: float = 0.0) -> None:
    headers = []
    if answer is HookAnswer.RATE_LIMITED:
        headers.append((b"retry-after", str(max(1, math.ceil(retry_after))).encode()))
    if answer is HookAnswer.METHOD_NOT_ALLOWED:
        headers.append((b"allow", b"POST"))
    await _respond(send, HOOK_STATUS[answer], answer.value, headers)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def _request_problem(scope: Scope) -> HookAnswer | None:
    """POST only, to a host of ALLOWED_HOSTS (as Django checks every request's Host)."""
    if scope.get("method") != "POST":
        return HookAnswer.METHOD_NOT_ALLOWED
    domain, _ = split_domain_port(_header(scope, b"host"))
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return HookAnswer.BAD_HOST
    return None


async def _body(scope: Scope, receive: Receive) -> bytes | None:
    """The body, or None past CHAT_WEBHOOK_MAX_BYTES: told by Content-Length before
    anything is read, or found while reading (never more than one chunk past it)."""
    limit = settings.CHAT_WEBHOOK_MAX_BYTES
    try:
        declared = int(_header(scope, b"content-length") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _payload(content_type: str, body: bytes) -> object:
    """JSON, or a form's `payload=<json>` field (Slack's two shapes). A form without
    `payload` is read as JSON too: `curl -d '{"text": …}'` sends JSON labelled a form."""
    if content_type.split(";", 1)[0].strip().lower() == FORM:
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if "payload" in fields:
            return json.loads(fields["payload"][-1])
    return json.loads(body)


def _prepared(key: str, content_type: str, body: bytes) -> SendRequest:
    """Everything before the save, in one trip to a read thread (each trip is a thread
    hop): the hook (no_service, action_prohibited), its rate token (Redis's script
    through the sync client), the payload parsed and rendered, the use noted."""
    hook = incoming.hook_find(key=key)
    try:
        blocking.hook_check_sync(hook.id)
    except blocking.HookRateLimited as error:
        raise HookRefused(HookAnswer.RATE_LIMITED, error.detail, error.retry_after) from None
    try:
        data = _payload(content_type, body)
    except NOT_JSON:
        raise HookRefused(HookAnswer.INVALID_PAYLOAD, "The body is not JSON.") from None
    send = incoming.hook_request(hook=hook, data=data)
    incoming.hook_used(hook=hook)
    return send


async def _post(scope: Scope, key: str, body: bytes) -> None:
    """Save the hook's post; HookRefused for any answer but `ok`."""
    content_type = _header(scope, b"content-type")
    send = await dbcalls.read(_prepared, key=key, content_type=content_type, body=body)
    try:
        await group_commit.current().post(send)
    except ChatError as error:
        raise incoming.hook_refused(error) from None


async def hook_receive(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI app of `POST /hooks/<key>`."""
    problem = _request_problem(scope)
    if problem is not None:
        await _hook_answer(send, problem)
        return
    body = await _body(scope, receive)
    if body is None:
        await _hook_answer(send, HookAnswer.PAYLOAD_TOO_LARGE)
        return
    try:
        await _post(scope, scope["url_route"]["kwargs"]["key"], body)
    except HookRefused as refused:
        await _hook_answer(send, refused.answer, refused.retry_after)
        return
    await _hook_answer(send, HookAnswer.OK)


# chatsite/asgi.py routes these before Django; the tests drive the same router.
# django-stubs types path() for views; channels routes ASGI apps with the same path().
http_urlpatterns = [path("hooks/<str:key>", hook_receive, name="hook")]  # type: ignore[arg-type]
hooks_app = URLRouter(http_urlpatterns)
