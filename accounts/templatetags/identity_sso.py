"""Template tags for the log-in and sign-up pages: a "Log in with <name>" button per
provider of CHAT_OIDC_PROVIDERS, and whether the password form is shown
(CHAT_PASSWORD_LOGIN; off, only for the break-glass link ?break_glass=1)."""

from typing import Any

from django import template
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

register = template.Library()


@register.inclusion_tag("accounts/_sso_buttons.html")
def sso_buttons(verb: str = "Log in", next_url: str = "", invitation: str = "") -> dict[str, Any]:
    query = {key: value for key, value in (("next", next_url), ("invitation", invitation)) if value}
    suffix = f"?{urlencode(query)}" if query else ""
    buttons = [
        {
            "id": provider.id,
            "label": f"{verb} with {provider.name}",
            "href": reverse("identity:oidc_login", args=[provider.id]) + suffix,
        }
        for provider in settings.CHAT_OIDC_PROVIDERS
    ]
    return {"buttons": buttons}


@register.simple_tag
def password_form_shown(request: HttpRequest) -> bool:
    """The password form is shown when password log-in is on, or when asked for by the
    break-glass link (the backend still refuses anyone CHAT_BREAK_GLASS_USERS does not
    name), and on the answer to a password attempt, so its error is seen."""
    return bool(
        settings.CHAT_PASSWORD_LOGIN or "break_glass" in request.GET or request.method == "POST"
    )


@register.simple_tag
def password_login_on() -> bool:
    return bool(settings.CHAT_PASSWORD_LOGIN)
