"""Web Push delivery (RFC 8030 / 8291 / 8292 through pywebpush): one encrypted POST to
each registered device of each recipient. Runs inside a background job; it decides
nothing about who is told (notify/selectors.py did, at send time) and never raises
for one device's failure.

Called from a job thread, so the HTTP calls block: they run on a small bounded pool,
each with a timeout, and the database is touched twice (read the subscriptions, then
write back what the push services answered)."""

import enum
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from chat.ops import egress
from notify.models import PushSubscription
from notify.selectors import MessageBrief, Recipient
from notify.subscriptions import push_allowed_hosts

logger = logging.getLogger(__name__)

# A notification older than this is stale: the push service drops it rather than wake
# a phone hours later (the missed-messages email covers a long absence).
PUSH_TTL_SECONDS = 4 * 60 * 60
PUSH_CONNECT_TIMEOUT_SECONDS = 5.0
PUSH_READ_TIMEOUT_SECONDS = 10.0
PUSH_MAX_THREADS = 8  # concurrent POSTs of one job; a job of n devices takes ~n/8 calls
NOTIFICATION_TAG_PREFIX = "chat-room-"  # push.js and the page use the same tag


class Outcome(enum.Enum):
    SENT = "sent"
    GONE = "gone"  # the subscription ended: delete it
    FAILED = "failed"  # anything else: logged; the next message tries again


def outcome_for_status(status: int | None) -> Outcome:
    """What a push service's answer means for the subscription (RFC 8030 section 5)."""
    if status is not None and 200 <= status < 300:
        return Outcome.SENT
    if status in (404, 410):
        return Outcome.GONE
    return Outcome.FAILED


@dataclass(frozen=True, slots=True)
class Target:
    subscription_id: int
    endpoint: str
    p256dh: str
    auth: str
    payload: bytes


def push_configured() -> bool:
    return bool(settings.CHAT_VAPID_PUBLIC_KEY and settings.CHAT_VAPID_PRIVATE_KEY)


def notification_tag(room_slug: str) -> str:
    return NOTIFICATION_TAG_PREFIX + room_slug


def push_payload(brief: MessageBrief, recipient: Recipient) -> dict[str, Any]:
    """What the service worker shows (notify/static/notify/sw.js); the same for every
    device of the recipient. Well under the 4 kB a push message may carry: the excerpt
    is at most EXCERPT_CHARS (the root's too, for a reply in a thread)."""
    room_url = reverse("chat:room", kwargs={"slug": brief.room_slug})
    # A reply opens its thread (the page's `?thread=`); any other message, its place.
    where = f"thread={brief.thread}" if brief.thread is not None else f"seq={brief.seq}"
    return {
        "type": "message",
        "room": brief.room_slug,
        "room_name": brief.room_name,
        "is_direct": brief.is_direct,
        "seq": brief.seq,
        "message_id": brief.id,
        "author": brief.author,
        "body": brief.excerpt,
        "mention": recipient.mentioned,
        "created_at": brief.created_at.isoformat(),
        "thread": brief.thread,
        "thread_excerpt": brief.thread_excerpt,
        "url": f"{room_url}?{where}",
        "tag": notification_tag(brief.room_slug),
        "icon": static("chat/icons/icon-192.png"),
        "badge": static("chat/icons/badge-96.png"),
    }


def push_message(brief: MessageBrief, recipients: list[Recipient]) -> None:
    """Push the message to every device of these recipients (already filtered: members
    who may read the room now and want to be told). Quietly nothing without VAPID keys."""
    if not recipients or not push_configured():
        return
    by_user = {r.user_id: r for r in recipients}
    targets = [
        Target(
            subscription_id=pk,
            endpoint=endpoint,
            p256dh=p256dh,
            auth=auth,
            payload=_encode(push_payload(brief, by_user[user_id])),
        )
        for pk, user_id, endpoint, p256dh, auth in PushSubscription.objects.filter(
            user_id__in=by_user
        ).values_list("pk", "user_id", "endpoint", "p256dh", "auth")
    ]
    if not targets:
        return
    headers = {
        # High urgency wakes a sleeping phone: for what is addressed to the reader only.
        "Urgency": "high" if brief.is_direct or any(r.mentioned for r in recipients) else "normal",
        # A push service holding an undelivered message of this room replaces it.
        "Topic": f"room{brief.room_id}",
    }
    outcomes = push_send(targets, headers)
    sent = [pk for pk, outcome in outcomes.items() if outcome is Outcome.SENT]
    gone = [pk for pk, outcome in outcomes.items() if outcome is Outcome.GONE]
    if sent:
        PushSubscription.objects.filter(pk__in=sent).update(last_success_at=timezone.now())
    if gone:
        PushSubscription.objects.filter(pk__in=gone).delete()


def push_send(targets: list[Target], headers: dict[str, str]) -> dict[int, Outcome]:
    """POST each target's encrypted payload; no database access (it runs in threads)."""
    vapid = Vapid.from_string(private_key=settings.CHAT_VAPID_PRIVATE_KEY)
    with requests.Session() as session:
        # A redirect could lead the request somewhere endpoint_problem() never checked.
        session.max_redirects = 0
        with ThreadPoolExecutor(max_workers=min(PUSH_MAX_THREADS, len(targets))) as pool:
            results = pool.map(lambda t: _send_one(t, headers, vapid, session), targets)
            return {t.subscription_id: outcome for t, outcome in zip(targets, results, strict=True)}


def _send_one(
    target: Target, headers: dict[str, str], vapid: Vapid, session: requests.Session
) -> Outcome:
    # The egress rule of every request to a user-given URL (chat/ops/egress.py), at send
    # time: a public name registered as an endpoint may resolve to an inside address
    # later. (The connection itself is requests'; a rebinding between this check and
    # its lookup would still need a certificate for the endpoint's name, https only.)
    try:
        egress.url_target(target.endpoint, push_allowed_hosts())
    except egress.EgressRefused as refused:
        _log_failure(target, f"refused: {refused.reason}")
        return Outcome.FAILED
    try:
        response = webpush(
            {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}},
            data=target.payload,  # bytes: sent as they are
            vapid_private_key=vapid,
            # A new dict each time: webpush writes the endpoint's origin ("aud") into it.
            vapid_claims={"sub": settings.CHAT_VAPID_SUBJECT},
            ttl=PUSH_TTL_SECONDS,
            headers=dict(headers),
            timeout=(PUSH_CONNECT_TIMEOUT_SECONDS, PUSH_READ_TIMEOUT_SECONDS),
            requests_session=session,
        )
        status: int | None = (
            response.status_code if isinstance(response, requests.Response) else None
        )
    except WebPushException as error:
        status = error.response.status_code if error.response is not None else None
        if outcome_for_status(status) is Outcome.FAILED:
            _log_failure(target, f"status {status}")
    except (requests.RequestException, ValueError) as error:
        _log_failure(target, type(error).__name__)
        return Outcome.FAILED
    return outcome_for_status(status)


def _log_failure(target: Target, what: str) -> None:
    # The endpoint's path is the device's secret address: log only its origin.
    origin = urlsplit(target.endpoint)._replace(path="", query="", fragment="").geturl()
    logger.warning("web push to %s failed: %s", origin, what)


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
