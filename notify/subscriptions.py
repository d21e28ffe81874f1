"""Push subscriptions of each user's devices: what a browser may register (checked
here, since the server will POST to the endpoint it names) and the writes. No HTTP:
the views in notify/push_views.py call these."""

import base64
import binascii
import ipaddress
import re
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.functions import Coalesce

from chat.errors import ChatError
from chat.protocol.codes import ErrorCode
from notify.models import PushSubscription

MAX_ENDPOINT_CHARS = 1000  # PushSubscription.endpoint's column
MAX_USER_AGENT_CHARS = 300
# Each registration is a device; past this many the least recently useful one goes, so
# a script with a token cannot grow the table (and the fan-out of every push) forever.
MAX_SUBSCRIPTIONS_PER_USER = 20
P256DH_BYTES = 65  # an uncompressed P-256 point (RFC 8291 section 3.1)
AUTH_SECRET_BYTES = 16
# Names that only mean something inside a network: never a public push service.
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def b64url_decode(value: str) -> bytes:
    """Base64url with or without padding; ValueError for anything else."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", value):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError("not base64url") from error


def push_allowed_hosts() -> set[str]:
    return {host.lower() for host in settings.CHAT_PUSH_ALLOW_HOSTS}


def endpoint_problem(endpoint: str, allowed_hosts: set[str]) -> str | None:
    """Why the server must not POST to this URL, or None. The server is the client here
    (a request forgery risk): only https on port 443 to a public name, so a request
    reaches nothing but a host holding a certificate for that name; IP literals and
    local names are refused. Hosts listed in CHAT_PUSH_ALLOW_HOSTS (a push service on
    the local network, the tests' stand-in) are exempt, http included."""
    if len(endpoint) > MAX_ENDPOINT_CHARS or not endpoint.isprintable() or " " in endpoint:
        return f"The endpoint must be a URL of at most {MAX_ENDPOINT_CHARS} characters."
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return "The endpoint is not a valid URL."
    host = (parts.hostname or "").lower()
    if not host:
        return "The endpoint has no host."
    if parts.username is not None or parts.password is not None:
        return "The endpoint must not carry credentials."
    if host in allowed_hosts:
        return None if parts.scheme in {"http", "https"} else "The endpoint must be https."
    if parts.scheme != "https":
        return "The endpoint must be an https URL."
    if port not in (None, 443):
        return "The endpoint must use the standard https port."
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return "The endpoint must name its host, not give an address."
    labels = host.rstrip(".").split(".")
    if len(labels) < 2 or host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
        return "The endpoint must be on a public push service."
    if not all(_HOST_LABEL.match(label) for label in labels):
        return "The endpoint's host name is not valid."
    return None


def keys_check(p256dh: str, auth: str) -> tuple[str, str]:
    """The keys in canonical form (base64url, no padding); ChatError if they cannot
    encrypt anything: the browser's public key must be a point on P-256."""
    try:
        point = b64url_decode(p256dh)
        secret = b64url_decode(auth)
        if len(point) != P256DH_BYTES or len(secret) != AUTH_SECRET_BYTES:
            raise ValueError("wrong length")
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise ChatError(
            ErrorCode.BAD_KEYS,
            f'"keys.p256dh" must be a P-256 public key ({P256DH_BYTES} bytes) and '
            f'"keys.auth" a {AUTH_SECRET_BYTES}-byte secret, both base64url.',
        ) from None
    return b64url_encode(point), b64url_encode(secret)


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@transaction.atomic
def push_subscription_save(
    *, user: User, endpoint: str, p256dh: str, auth: str, user_agent: str = ""
) -> tuple[PushSubscription, bool]:
    """Register (or refresh) this browser's subscription for the user. The endpoint is
    the browser's, so when another user logs in on it the subscription moves to them:
    a device notifies only the person using it now. True: it was new."""
    problem = endpoint_problem(endpoint, push_allowed_hosts())
    if problem is not None:
        raise ChatError(ErrorCode.BAD_ENDPOINT, problem)
    p256dh, auth = keys_check(p256dh, auth)
    subscription, created = PushSubscription.objects.update_or_create(
        endpoint=endpoint,
        defaults={
            "user": user,
            "p256dh": p256dh,
            "auth": auth,
            "user_agent": user_agent[:MAX_USER_AGENT_CHARS],
        },
    )
    surplus = (
        PushSubscription.objects.filter(user=user)
        .exclude(pk=subscription.pk)
        .order_by(Coalesce("last_success_at", "created_at").desc())
        .values_list("pk", flat=True)[MAX_SUBSCRIPTIONS_PER_USER - 1 :]
    )
    if surplus_ids := list(surplus):
        PushSubscription.objects.filter(pk__in=surplus_ids).delete()
    return subscription, created


def push_subscription_delete(*, user: User, endpoint: str) -> None:
    """Forget one of the user's own subscriptions; someone else's looks missing."""
    deleted, _ = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    if not deleted:
        raise ChatError(ErrorCode.NOT_FOUND, "No such push subscription.")
