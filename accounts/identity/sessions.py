"""Your sessions: what the sessions page lists (each signed-in session with its device,
address, times and how it signed in; each API token), and signing one out, by its owner
or by staff. Ending goes through accounts.services' session machinery, so the sockets of
an ended session close on every process within a second; each is audited once."""

import functools
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from ua_parser import parse as ua_parse

from accounts import services, session_db
from accounts.identity import audit
from accounts.models import SessionRecord
from chat import selectors as chat_selectors
from chat import services as chat_services
from chat.errors import ChatError

UA_CACHE_SIZE = 256  # distinct user agents parsed and kept (parsing is the slow part)


@dataclass(frozen=True)
class SessionRow:
    id: int
    kind: str  # "session" or "token"
    device: str  # "Chrome 131 on Linux", or the token's name
    ip: str
    signed_in_at: datetime
    last_seen_at: datetime | None
    how: str  # "Password", "Directory password", "Single sign-on (Acme)", "Token", ...
    current: bool


@functools.lru_cache(maxsize=UA_CACHE_SIZE)
def device_describe(user_agent: str) -> str:
    """A person's words for a user agent: "Firefox 128 on Windows", "Safari on iOS
    (iPhone)"; "Unknown device" when nothing is recognised."""
    if not user_agent.strip():
        return "Unknown device"
    found = ua_parse(user_agent)
    browser = found.user_agent.family if found.user_agent is not None else ""
    if browser and found.user_agent is not None and found.user_agent.major:
        browser = f"{browser} {found.user_agent.major}"
    system = found.os.family if found.os is not None else ""
    device = found.device.family if found.device is not None else ""
    parts = [p for p in (browser, f"on {system}" if system and system != "Other" else "") if p]
    if device and device not in ("Other", "Spider") and device not in system:
        parts.append(f"({device})")
    return " ".join(parts) or user_agent[:60]


def _provider_name(provider_id: str) -> str:
    for provider in settings.CHAT_OIDC_PROVIDERS:
        if provider.id == provider_id:
            return str(provider.name)
    return provider_id


def _how(record: SessionRecord) -> str:
    label = SessionRecord.Method(record.method).label if record.method else "Password"
    if record.method == SessionRecord.Method.SSO and record.provider:
        label = f"{label} ({_provider_name(record.provider)})"
    if record.second_factor:
        label = f"{label} + second factor"
    return str(label)


def _live(records: list[SessionRecord]) -> list[SessionRecord]:
    """The records whose Django session still holds (not expired, not removed): only
    database-backed engines can tell; with others every record is shown."""
    if not session_db.table_backed():
        return records
    keys = [record.session_key for record in records]
    alive = set(
        Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now()).values_list(
            "session_key", flat=True
        )
    )
    return [record for record in records if record.session_key in alive]


def session_rows(*, user: User, current_key: str | None) -> list[SessionRow]:
    """The user's sessions (the current one first, then the most recently seen) and
    then their API tokens: three queries."""
    records = _live(list(SessionRecord.objects.filter(user=user)))
    rows = [
        SessionRow(
            id=record.pk,
            kind="session",
            device=device_describe(record.user_agent),
            ip=record.ip or "",
            signed_in_at=record.created_at,
            last_seen_at=record.last_seen_at,
            how=_how(record),
            current=record.session_key == current_key,
        )
        for record in records
    ]
    rows.sort(
        key=lambda row: (not row.current, -(row.last_seen_at or row.signed_in_at).timestamp())
    )
    tokens = [
        SessionRow(
            id=token["id"],
            kind="token",
            device=f"{token['name']} ({token['prefix']}…)",
            ip="",
            signed_in_at=datetime.fromisoformat(token["created_at"]),
            last_seen_at=(
                datetime.fromisoformat(token["last_used_at"]) if token["last_used_at"] else None
            ),
            how="API token",
            current=False,
        )
        for token in chat_selectors.token_list(user=user)
    ]
    return rows + tokens


def _end(records: list[SessionRecord]) -> None:
    """Delete the sessions and their records; their sockets close on every process once
    the transaction commits (services.sessions_ended)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for record in records:
        store(session_key=record.session_key).delete()
    SessionRecord.objects.filter(pk__in=[record.pk for record in records]).delete()
    services.sessions_ended([record.session_key for record in records])


def _audit(
    records: list[SessionRecord], *, actor: User | None, request: HttpRequest | None
) -> None:
    for record in records:
        by = "owner" if actor is not None and actor.pk == record.user_id else "staff"
        audit.record(
            audit.SecurityEvent.SESSION_SIGN_OUT,
            actor=actor,
            target=record.user,
            reason=f"by {by}: {device_describe(record.user_agent)}, {record.ip or 'no address'}",
            request=request,
        )


@transaction.atomic
def session_sign_out(
    *, user: User, record_id: int, actor: User, request: HttpRequest | None = None
) -> bool:
    """End one of `user`'s sessions (by its owner, or by staff). False if there is no
    such session of theirs (already ended)."""
    records = list(
        SessionRecord.objects.select_for_update()
        .filter(pk=record_id, user=user)
        .select_related("user")
    )
    _end(records)
    _audit(records, actor=actor, request=request)
    return bool(records)


@transaction.atomic
def sessions_sign_out_others(*, user: User, request: HttpRequest) -> int:
    """ "Sign out all others": every session of the user but the request's own. Returns
    how many were ended."""
    keep = request.session.session_key
    records = list(
        SessionRecord.objects.select_for_update()
        .filter(user=user)
        .exclude(session_key=keep or "")
        .select_related("user")
    )
    _end(records)
    _audit(records, actor=user, request=request)
    return len(records)


@transaction.atomic
def sessions_sign_out_by_staff(
    *, records: list[SessionRecord], actor: User, request: HttpRequest | None = None
) -> int:
    """Staff end these sessions (the admin's action), each audited with them as actor."""
    locked = list(
        SessionRecord.objects.select_for_update()
        .filter(pk__in=[record.pk for record in records])
        .select_related("user")
    )
    _end(locked)
    _audit(locked, actor=actor, request=request)
    return len(locked)


def token_sign_out(*, user: User, token_id: int) -> bool:
    """A token row's "Sign out": the token is revoked (audited by chat's service)."""
    try:
        chat_services.token_revoke(token_id=token_id, user=user)
    except ChatError:
        return False
    return True
