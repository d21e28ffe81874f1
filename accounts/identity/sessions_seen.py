"""When each session was last seen, bumped at most every LAST_SEEN_EVERY_SECONDS: by page
requests (a middleware that keeps its last bump in the session itself, so it reads
nothing) and by open sockets (the realtime session check, one UPDATE per process per
interval for all its open keys). Never a query per request or per connect."""

import time
from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth import SESSION_KEY
from django.db.models import Q
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from accounts.models import SessionRecord

LAST_SEEN_EVERY_SECONDS = 300
SEEN_AT_KEY = "_accounts_seen_at"  # in the session: when this middleware last bumped it


def sessions_seen(*, session_keys: list[str]) -> int:
    """Mark these sessions seen now: one UPDATE, touching only rows not bumped within
    LAST_SEEN_EVERY_SECONDS (so a busy process does not rewrite them every interval).
    Returns how many rows changed."""
    keys = sorted(set(session_keys))
    if not keys:
        return 0
    now = timezone.now()
    stale = Q(last_seen_at__isnull=True) | Q(
        last_seen_at__lt=now - timedelta(seconds=LAST_SEEN_EVERY_SECONDS)
    )
    return SessionRecord.objects.filter(stale, session_key__in=keys).update(last_seen_at=now)


class LastSeenMiddleware:
    """After SessionMiddleware and AuthenticationMiddleware. Looks only at a session the
    request already loaded (a logged-in one), and writes at most every
    LAST_SEEN_EVERY_SECONDS: the row's UPDATE, and the session's own save."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        # `accessed`: the data is loaded already, so reading it costs nothing.
        if session is None or not session.accessed or not session.session_key:
            return response
        if SESSION_KEY not in session:  # not logged in (or logged out by this request)
            return response
        now = time.time()
        seen = session.get(SEEN_AT_KEY)
        if isinstance(seen, int | float) and now - seen < LAST_SEEN_EVERY_SECONDS:
            return response
        session[SEEN_AT_KEY] = now
        SessionRecord.objects.filter(session_key=session.session_key).update(
            last_seen_at=timezone.now()
        )
        return response
