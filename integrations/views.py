"""`POST /hooks/<key>`: Slack's incoming-webhook contract. Thin: read the body (bounded),
find the hook, take its rate token, call integrations.incoming, answer as Slack does
(plain text). No session, no CSRF, no cookie: the key in the URL is the credential."""

import json
import math
from urllib.parse import parse_qs

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from chat.protocol.codes import HOOK_STATUS, HookAnswer
from integrations import incoming
from integrations.incoming import HookRefused

FORM = "application/x-www-form-urlencoded"
MAX_JSON_DEPTH_ERRORS = (ValueError, RecursionError)


def _answer(answer: HookAnswer, retry_after: float = 0.0) -> HttpResponse:
    response = HttpResponse(
        answer.value, status=HOOK_STATUS[answer], content_type="text/plain; charset=utf-8"
    )
    if answer is HookAnswer.RATE_LIMITED:
        response["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def _body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is over CHAT_WEBHOOK_MAX_BYTES (told by Content-Length
    before anything is read, or found while reading at most one byte past it)."""
    limit = settings.CHAT_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    data = request.read(limit + 1)
    return None if len(data) > limit else data


def _payload(content_type: str, body: bytes) -> object:
    """JSON, or a form's `payload=<json>` field (Slack's two shapes). A form without
    `payload` is read as JSON too: `curl -d '{"text": …}'` sends JSON labelled a form."""
    if content_type == FORM:
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if "payload" in fields:
            return json.loads(fields["payload"][-1])
    return json.loads(body)


@csrf_exempt  # a URL with a secret key, not a cookie, authenticates the request
@require_POST
def hook_receive(request: HttpRequest, key: str) -> HttpResponse:
    body = _body(request)
    if body is None:
        return _answer(HookAnswer.PAYLOAD_TOO_LARGE)
    try:
        hook = incoming.hook_find(key=key)
        incoming.hook_rate_check(hook=hook)
        try:
            data = _payload(request.content_type or "", body)
        except MAX_JSON_DEPTH_ERRORS:
            raise HookRefused(HookAnswer.INVALID_PAYLOAD, "The body is not JSON.") from None
        incoming.hook_post(hook=hook, data=data)
    except HookRefused as refused:
        return _answer(refused.answer, refused.retry_after)
    return _answer(HookAnswer.OK)
