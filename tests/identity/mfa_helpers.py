"""Shared by the second-factor tests: an authenticator app (pyotp, from the secret the
enrolment page shows) and enrolling an account through the real services."""

import base64
import re
import time

import pyotp
from django.contrib.auth.models import User
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import mfa

STEP_SECONDS = 30


def app_for_secret(secret: str) -> pyotp.TOTP:
    """What an authenticator app holds after the secret is typed in (spaces and all)."""
    return pyotp.TOTP(re.sub(r"\s+", "", secret))


def app_for_device(device_id: int) -> pyotp.TOTP:
    device = TOTPDevice.objects.get(pk=device_id)
    return pyotp.TOTP(base64.b32encode(device.bin_key).decode().rstrip("="))


def code_in(app: pyotp.TOTP, steps: int) -> str:
    """The code `steps` time steps from now: each use needs a later step than the last
    (a code is accepted once), and the server accepts one step of clock drift."""
    return app.at(time.time() + steps * STEP_SECONDS)


def enrol(user: User) -> tuple[pyotp.TOTP, list[str]]:
    """Enrol through the services (the first code confirms): the app and the recovery
    codes. The next code to log in with is code_in(app, 1)."""
    enrolment = mfa.enrolment_start(user)
    app = app_for_secret(enrolment.secret)
    codes = mfa.enrolment_confirm(user, enrolment.device_id, app.now())
    assert codes is not None
    return app, codes
