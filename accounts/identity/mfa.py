"""The second factor's devices (django-otp's models): a TOTP authenticator (RFC 6238)
confirmed with its first code, and 10 single-use recovery codes. Write-side rules only:
the pages (mfa_views.py) call these; the log-in's state lives in login_flow.py.

Codes are checked with conditional UPDATE/DELETE statements rather than django-otp's
read-then-save verify_token, so two requests racing with one code cannot both pass: a
TOTP step is accepted once (last_t only moves forward), a recovery code is deleted once.
"""

import base64
import secrets
import time
from dataclasses import dataclass
from typing import Literal

import segno
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import audit

RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_RECOVERY_CHARS = 10  # ~49 bits each
_DEVICE_NAME = "Authenticator app"
_RECOVERY_NAME = "Recovery codes"

Passed = Literal["totp", "recovery"]


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the QR code (inline SVG) and the same secret as
    text for typing into an app by hand."""

    device_id: int
    secret: str  # base32, grouped by four for reading
    qr_svg: str


def enrolled(user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def recovery_codes_left(user: User) -> int:
    return int(StaticToken.objects.filter(device__user=user, device__confirmed=True).count())


def _secret_b32(device: TOTPDevice) -> str:
    raw = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def enrolment_start(user: User) -> Enrolment:
    """A fresh unconfirmed authenticator for the user (any earlier unconfirmed one is
    replaced: a secret shown once on a page left open is not reused)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name=_DEVICE_NAME, confirmed=False)
    return _shown(device)


def enrolment_show(user: User, device_id: int) -> Enrolment | None:
    """The unconfirmed authenticator started for this page, if it is still there."""
    device = TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first()
    return None if device is None else _shown(device)


def _shown(device: TOTPDevice) -> Enrolment:
    qr = segno.make(device.config_url, error="m")
    svg = qr.svg_inline(scale=5, border=2, dark="#000", light="#fff", omitsize=False)
    return Enrolment(device_id=device.pk, secret=_secret_b32(device), qr_svg=svg)


def _totp_accept(device: TOTPDevice, code: str) -> bool:
    """Accept a TOTP code once: its time step must be later than the last accepted."""
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != device.digits:
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if not totp.verify(int(code), device.tolerance, device.last_t + 1):
        return False
    step = totp.t()
    moved: int = TOTPDevice.objects.filter(pk=device.pk, last_t__lt=step).update(
        last_t=step, drift=totp.drift, last_used_at=timezone.now()
    )
    return moved == 1


def _new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes with 10 new ones (returned once, to show)."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=_RECOVERY_NAME, confirmed=True)
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_CHARS))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def enrolment_confirm(user: User, device_id: int, code: str) -> list[str] | None:
    """The first code from the app proves it holds the secret: the device becomes the
    user's authenticator (replacing an earlier one) and 10 recovery codes are made.
    Returns the codes, or None when the code is wrong."""
    device = TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first()
    if device is None or not _totp_accept(device, code):
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        codes = _new_recovery_codes(user)
        audit.record(audit.SecurityEvent.MFA_ENROL, actor=user, target=user)
    return codes


def recovery_codes_renew(user: User) -> list[str]:
    with transaction.atomic():
        return _new_recovery_codes(user)


def _normalize_recovery(code: str) -> str:
    return code.strip().lower().replace("-", "").replace(" ", "")


def second_factor_check(user: User, code: str) -> Passed | None:
    """A code from the authenticator or a recovery code (used up): what passed, or None.
    A recovery code's use is recorded (mfa.recovery_use)."""
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        if _totp_accept(device, code):
            return "totp"
    token = _normalize_recovery(code)
    if not token or len(token) > 16:
        return None
    with transaction.atomic():
        used, _ = StaticToken.objects.filter(
            device__user=user, device__confirmed=True, token=token
        ).delete()
        if used:
            StaticDevice.objects.filter(user=user).update(last_used_at=timezone.now())
            audit.record(audit.SecurityEvent.MFA_RECOVERY_USE, actor=user, target=user)
            return "recovery"
    return None


def mfa_remove(user: User, *, actor: User) -> None:
    """Remove the authenticator and the recovery codes (re-authenticated by the page)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        audit.record(audit.SecurityEvent.MFA_REMOVE, actor=actor, target=user)
