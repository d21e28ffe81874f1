"""The personal API token settings page (HTML). Thin: lists through selectors, creates
and revokes through services; a new token's secret is shown on this response only."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from chat import selectors, services
from chat.errors import ChatError


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - guaranteed by login_required
    return request.user


@never_cache  # the page can hold a secret
@login_required
@require_http_methods(["GET", "POST"])
def token_settings(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    created: services.NewToken | None = None
    error = ""
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            try:
                services.token_revoke(token_id=int(request.POST.get("token", "0")), user=user)
            except (ChatError, ValueError):
                error = "No such token of yours."
            else:
                return redirect("chat:tokens")
        else:
            created = services.token_create(user=user, name=request.POST.get("name", ""))
    context = {"tokens": selectors.token_list(user=user), "created": created, "error": error}
    return render(request, "chat/tokens.html", context)
