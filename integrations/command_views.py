"""`POST /commands/respond/<secret>`: a custom command's response_url (Slack's delayed
answer), up to 5 posts within 30 minutes of the run. No session, no CSRF, no cookie:
the secret in the URL is the credential. Answers as Slack does, in plain text."""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from chat.errors import ChatError
from integrations.commands import ResponseRefused, response_post

MAX_RESPONSE_BYTES = 256 * 1024


def _text(status: int, body: str) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_POST
def command_respond(request: HttpRequest, secret: str) -> HttpResponse:
    if len(request.body) > MAX_RESPONSE_BYTES:
        return _text(413, "request_too_large")
    data: Any
    try:
        if request.content_type == "application/x-www-form-urlencoded":
            data = json.loads(request.POST.get("payload", ""))
        else:
            data = json.loads(request.body)
    except (ValueError, RecursionError):
        return _text(400, "invalid_payload")
    try:
        response_post(secret, data)
    except ResponseRefused as refused:
        return _text(400 if refused.code == "invalid_payload" else 404, refused.code)
    except ChatError as error:
        return _text(403, str(error.code))
    return _text(200, "ok")
