"""One custom command's HTTP call: POST the form to its URL and read the answer, with a
time limit, no redirects, and the one address rule of every request the server makes to
a URL someone typed (chat/ops/egress.py: no loopback, private, link-local, metadata or
other special addresses unless the host is in CHAT_WEBHOOK_ALLOW_HOSTS; the connection
goes to the checked address). Blocking: callers run it in a worker thread, never on the
event loop nor the database thread."""

import http.client
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings

from chat.ops import egress

MAX_ANSWER_BYTES = 256 * 1024  # as an incoming webhook's body


class CommandFailed(Exception):
    """The command's server could not be reached or did not answer in time; the text
    is shown to the caller (no internals: a host and what went wrong)."""


class CommandTimedOut(CommandFailed):
    """No answer within the time limit."""


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    content_type: str
    body: bytes


def form_post(url: str, form: dict[str, str], *, timeout: float) -> HttpAnswer:
    """POST the form as Slack does (application/x-www-form-urlencoded); the answer, or
    CommandFailed. Redirects are not followed (a 3xx is an answer like any other)."""
    try:
        target = egress.url_target(url, settings.CHAT_WEBHOOK_ALLOW_HOSTS)
    except egress.EgressRefused as refused:
        raise CommandFailed(refused.reason) from None
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json,*/*",
        "User-Agent": "chat-slash-command/1",
    }
    try:
        answer = egress.post(
            target,
            urlencode(form).encode(),
            headers,
            timeout=timeout,
            max_bytes=MAX_ANSWER_BYTES + 1,
        )
    except TimeoutError:
        raise CommandTimedOut(f"{target.host} did not answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as error:
        raise CommandFailed(
            f"{target.host} could not be reached ({type(error).__name__})"
        ) from None
    if len(answer.body) > MAX_ANSWER_BYTES:
        raise CommandFailed(f"{target.host} answered with more than {MAX_ANSWER_BYTES} bytes")
    return HttpAnswer(answer.status, answer.content_type, answer.body)
