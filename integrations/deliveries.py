"""Outgoing webhooks' deliveries, as background jobs (integrations/tasks.py calls these;
never the message write path). `deliveries_plan` turns saved messages into Delivery rows
for the hooks they trigger; `delivery_attempt` signs and POSTs one, then records the
outcome, queues a retry, or switches a failing hook off.

Crash safety: every step is safe to run twice. A Delivery row is made once per (hook,
message) and keeps its delivery_id, sent as X-Chat-Delivery on every try, so a receiver
can drop a repeat of a try whose worker was killed after sending it; the bot's answer is
posted with a client_id made from that id, so it is saved once whatever runs twice.
"""

import hashlib
import hmac
import http.client
import json
import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from chat.models import Message
from chat.ops import egress
from chat.selectors import MessageOut, message_list_by_ids
from integrations import answers
from integrations.models import Delivery, OutgoingWebhook
from integrations.outgoing import outgoing_allowed_hosts, outgoing_enable
from integrations.triggers import HookRule, Seen, trigger_match

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0  # the whole exchange: connect, send, answer
RETRIES = 3  # after the first try: 4 tries at most
FAILURES_TO_DISABLE = 10  # deliveries failed in a row before the hook is switched off
KEEP_DELIVERIES = 50  # per hook, the newest (what its owner sees)
MAX_ANSWER_BYTES = 256 * 1024
USER_AGENT = "chat-outgoing-webhook/1"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>` (docs/api.md)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _watching(room_ids: set[int], direct_ids: set[int]) -> dict[int, list[OutgoingWebhook]]:
    """Per room, the enabled hooks that watch it: its own, and in a direct conversation
    those of the bot in it."""
    found: dict[int, list[OutgoingWebhook]] = {room_id: [] for room_id in room_ids}
    hooks = OutgoingWebhook.objects.filter(enabled=True).select_related("bot")
    for hook in hooks.filter(room_id__in=room_ids):
        found[hook.room_id].append(hook)
    if direct_ids:
        for hook in hooks.filter(bot__chat_memberships__room_id__in=direct_ids).annotate(
            dm=F("bot__chat_memberships__room_id")
        ):
            found[hook.dm].append(hook)
    return found


def deliveries_plan(message_ids: list[int]) -> int:
    """Make the deliveries the messages trigger and queue their first tries, in one
    transaction (a rerun finds them made and queues nothing). Returns how many were made."""
    from integrations.tasks import delivery_attempt  # the task module imports this one

    rows: dict[int, int] = {}
    direct: set[int] = set()
    found = Message.objects.filter(pk__in=message_ids).values_list(
        "pk", "room_id", "room__is_direct"
    )
    for pk, room_id, is_direct in found:
        rows[pk] = room_id
        if is_direct:
            direct.add(room_id)
    watching = _watching(set(rows.values()), direct)
    made = 0
    with transaction.atomic():
        for message in message_list_by_ids(ids=list(rows)):
            room_id = rows[message["id"]]
            for hook in watching.get(room_id, []):
                match = trigger_match(_rule(hook), _seen(message, room_id in direct))
                if match is None:
                    continue
                delivery, created = Delivery.objects.get_or_create(
                    hook=hook,
                    message_id=message["id"],
                    defaults={
                        "delivery_id": uuid.uuid4(),
                        "trigger_word": match.trigger_word or "",
                    },
                )
                if created:
                    delivery_attempt.enqueue(delivery_pk=delivery.pk)
                    made += 1
    return made


def _rule(hook: OutgoingWebhook) -> HookRule:
    words = tuple(str(w) for w in hook.triggers) if isinstance(hook.triggers, list) else ()
    return HookRule(words, hook.on_mention, hook.on_all, hook.bot.get_username())


def _seen(message: MessageOut, in_dm: bool) -> Seen:
    return Seen(
        body=message["body"],
        mentions=tuple(message["mentions"]),
        by_bot=message["author_bot"] or message["author"] is None,
        in_dm_with_bot=in_dm,
    )


def request_body(hook: OutgoingWebhook, delivery: Delivery, message: MessageOut) -> bytes:
    payload = {
        "token": str(hook.pk),
        "room": message["room"],
        "trigger_word": delivery.trigger_word or None,
        "user_name": message["author"],
        "message": message,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def delivery_attempt(delivery_pk: int) -> None:
    """One try of a delivery (a job). Does nothing for a delivery already finished."""
    delivery = Delivery.objects.select_related("hook", "hook__bot").filter(pk=delivery_pk).first()
    if delivery is None or delivery.state in (Delivery.State.OK, Delivery.State.FAILED):
        return
    hook = delivery.hook
    if not hook.enabled:
        _finish(delivery, Delivery.State.FAILED, error="the hook was switched off", count=False)
        return
    found = message_list_by_ids(ids=[delivery.message_id]) if delivery.message_id else []
    if not found:
        _finish(delivery, Delivery.State.FAILED, error="the message was deleted", count=False)
        return
    message = found[0]
    # Counted before the request leaves: a try whose worker dies mid-way still counts.
    Delivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    delivery.attempts += 1
    body = request_body(hook, delivery, message)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Chat-Timestamp": timestamp,
        "X-Chat-Signature": signature(hook.secret, timestamp, body),
        "X-Chat-Delivery": str(delivery.delivery_id),
    }
    started = time.monotonic()
    try:
        target = egress.url_target(hook.url, outgoing_allowed_hosts())
    except egress.EgressRefused as refused:
        _finish(delivery, Delivery.State.FAILED, error=f"refused: {refused.reason}")
        return
    try:
        answer = egress.post(
            target, body, headers, timeout=TIMEOUT_SECONDS, max_bytes=MAX_ANSWER_BYTES
        )
    except (TimeoutError, OSError, http.client.HTTPException) as error:
        latency = int((time.monotonic() - started) * 1000)
        what = "timeout" if isinstance(error, TimeoutError) else f"{type(error).__name__}: {error}"
        _retry_or_fail(delivery, status=None, latency_ms=latency, error=what)
        return
    if answer.status >= 500:
        _retry_or_fail(
            delivery, status=answer.status, latency_ms=answer.latency_ms, error="server error"
        )
    elif 300 <= answer.status < 400:
        _finish(
            delivery,
            Delivery.State.FAILED,
            status=answer.status,
            latency_ms=answer.latency_ms,
            error="redirect not followed",
        )
    elif answer.status >= 400 or answer.status < 200:
        _finish(
            delivery,
            Delivery.State.FAILED,
            status=answer.status,
            latency_ms=answer.latency_ms,
            error=f"refused with HTTP {answer.status}",
        )
    else:
        problem = answers.answer_post(hook, delivery, message, answer)
        _finish(
            delivery,
            Delivery.State.OK,
            status=answer.status,
            latency_ms=answer.latency_ms,
            error=problem or "",
        )


def _retry_or_fail(delivery: Delivery, *, status: int | None, latency_ms: int, error: str) -> None:
    if delivery.attempts > RETRIES:
        _finish(delivery, Delivery.State.FAILED, status=status, latency_ms=latency_ms, error=error)
        return
    from integrations.tasks import delivery_attempt

    delays = settings.CHAT_WEBHOOK_RETRY_SECONDS
    delay = float(delays[min(delivery.attempts, len(delays)) - 1]) if delays else 0.0
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            state=Delivery.State.RETRYING, status=status, latency_ms=latency_ms, error=error[:200]
        )
        # A job of its own, due later: the job queue holds it across restarts.
        run_after = timezone.now() + timedelta(seconds=delay)
        delivery_attempt.using(run_after=run_after).enqueue(delivery_pk=delivery.pk)


def _finish(
    delivery: Delivery,
    state: str,
    *,
    status: int | None = None,
    latency_ms: int | None = None,
    error: str = "",
    count: bool = True,
) -> None:
    """Record the outcome; a failure counts towards switching the hook off (`count`),
    a success starts that count again. Older deliveries than the newest 50 go."""
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            state=state,
            status=status,
            latency_ms=latency_ms,
            error=error[:200],
            finished_at=timezone.now(),
        )
        hook = OutgoingWebhook.objects.select_for_update().get(pk=delivery.hook_id)
        if state == Delivery.State.OK and hook.failures_in_row:
            OutgoingWebhook.objects.filter(pk=hook.pk).update(failures_in_row=0)
        elif state == Delivery.State.FAILED and count:
            hook.failures_in_row += 1
            OutgoingWebhook.objects.filter(pk=hook.pk).update(failures_in_row=hook.failures_in_row)
            if hook.enabled and hook.failures_in_row >= FAILURES_TO_DISABLE:
                _switch_off(hook, error, delivery)
        keep = Delivery.objects.filter(hook_id=hook.pk).order_by("-created_at", "-pk")
        old = list(keep.values_list("pk", flat=True)[KEEP_DELIVERIES : KEEP_DELIVERIES + 500])
        if old:
            Delivery.objects.filter(pk__in=old).exclude(
                state__in=[Delivery.State.PENDING, Delivery.State.RETRYING]
            ).delete()


def _switch_off(hook: OutgoingWebhook, last_error: str, delivery: Delivery) -> None:
    reason = f"{FAILURES_TO_DISABLE} deliveries failed in a row (last: {last_error})"
    outgoing_enable(hook=hook, enabled=False, reason=reason)
    logger.warning("outgoing webhook %s switched off: %s", hook.pk, reason)
    answers.owner_tell(hook, reason, delivery=delivery)
