"""What the test provider asserts about its people, and the test's levers on it.

- userinfo: name, username and email from the user; `email_verified` false for members
  of the group "email-unverified".
- idtoken_amr: `amr` ["pwd", "mfa"] for members of the group "mfa", else ["pwd"].
- /test/control/ sets the levers until set to "" again:
  ?sub=<sub>: the token endpoint's ID tokens carry this `sub` in place of the real one,
  under the real signature (a forged token: the chat must refuse it);
  ?nonce=<nonce>: ID tokens are signed with this nonce, not the one the request asked
  for (a token minted for another log-in);
  ?hold=1: the answer to the chat is a page with a "Continue" link instead of a
  redirect, so the test can take the callback URL and replay or alter it.
  ?user=<name>&first_name=..&last_name=..&email=.. changes a person, as their IT
  department would."""

import base64
import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.utils.html import escape

# The runserver process is this test provider's alone: a module global is its state.
TAMPER: dict[str, str] = {}


def userinfo(claims: dict[str, Any], user: User) -> dict[str, Any]:
    claims["name"] = user.get_full_name()
    claims["given_name"] = user.first_name
    claims["family_name"] = user.last_name
    claims["preferred_username"] = user.username
    claims["email"] = user.email
    claims["email_verified"] = not user.groups.filter(name="email-unverified").exists()
    return claims


def idtoken_hook(id_token: dict[str, Any], user: User, **kwargs: Any) -> dict[str, Any]:
    id_token["amr"] = ["pwd", "mfa"] if user.groups.filter(name="mfa").exists() else ["pwd"]
    if TAMPER.get("nonce"):
        id_token["nonce"] = TAMPER["nonce"]
    return id_token


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TamperMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        location = response.get("Location", "")
        held = TAMPER.get("hold") and request.path.endswith("/openid/authorize")
        if held and "code=" in location:
            link = f'<!doctype html><a id="continue" href="{escape(location)}">Continue</a>'
            return HttpResponse(link)
        sub = TAMPER.get("sub")
        if (
            sub
            and request.path.rstrip("/").endswith("/openid/token")
            and response.status_code == 200
        ):
            body = json.loads(response.content)
            header, payload, signature = body["id_token"].split(".")
            claims = json.loads(_b64decode(payload))
            claims["sub"] = sub
            forged = _b64encode(json.dumps(claims).encode())
            body["id_token"] = f"{header}.{forged}.{signature}"
            response.content = json.dumps(body).encode()
        return response


def control(request: HttpRequest) -> HttpResponse:
    for lever in ("sub", "nonce", "hold"):
        if lever in request.GET:
            TAMPER[lever] = request.GET[lever]
    if "user" in request.GET:
        user = User.objects.get(username=request.GET["user"])
        for field in ("first_name", "last_name", "email"):
            if field in request.GET:
                setattr(user, field, request.GET[field])
        user.save()
    return HttpResponse("ok", content_type="text/plain")
