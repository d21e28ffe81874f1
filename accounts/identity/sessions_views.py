"""The sessions page (/accounts/sessions/): the user's sessions and API tokens, each with
"Sign out" (POST), and "Sign out all others". Thin: rows from and ends through
accounts/identity/sessions.py."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.identity import sessions


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - guaranteed by login_required
    return request.user


def _id(request: HttpRequest) -> int:
    try:
        return int(request.POST.get("id", "0"))
    except ValueError:
        return 0


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def sessions_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    here = reverse("identity:sessions")
    if action == "session":
        ended = sessions.session_sign_out(
            user=user, record_id=_id(request), actor=user, request=request
        )
        return redirect(here + ("?ended=1" if ended else "?gone=1"))
    if action == "token":
        ended = sessions.token_sign_out(user=user, token_id=_id(request))
        return redirect(here + ("?revoked=1" if ended else "?gone=1"))
    if action == "others":
        count = sessions.sessions_sign_out_others(user=user, request=request)
        return redirect(here + f"?ended={count}")
    rows = sessions.session_rows(user=user, current_key=request.session.session_key)
    context = {
        "rows": rows,
        "others": sum(1 for row in rows if row.kind == "session" and not row.current),
        "ended": request.GET.get("ended", ""),
        "revoked": request.GET.get("revoked", ""),
        "gone": request.GET.get("gone", ""),
    }
    return render(request, "accounts/sessions.html", context, status=400 if action else 200)
