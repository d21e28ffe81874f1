"""`/settings/bots/`: the bots a person owns (staff: every bot), managed by their owner —
display name, avatar, API tokens, deactivation. Thin: reads through selectors and
queries of its own app, writes through services (accounts.profiles for the look, chat's
token services, integrations.bots for deactivation); a new token's secret is shown on
this response only."""

from typing import TypedDict

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts import profiles
from accounts.selectors import ProfileOut, user_profile
from chat import selectors, services
from chat.errors import ChatError
from integrations import bots
from integrations.pages_outgoing import page_user


class BotRow(TypedDict):
    id: int
    username: str
    profile: ProfileOut | None
    owner: str
    tokens: list[selectors.TokenOut]


def bots_managed(user: User) -> list[User]:
    """The active bots `user` manages: those they own; every bot for staff."""
    found = User.objects.filter(is_active=True, profile__is_bot=True)
    if not user.is_staff:
        found = found.filter(profile__bot_owner=user)
    return list(found.select_related("profile__bot_owner").order_by("username"))


def _rows(managed: list[User]) -> list[BotRow]:
    return [
        {
            "id": bot.pk,
            "username": bot.get_username(),
            "profile": user_profile(bot.pk),
            "owner": bot.profile.bot_owner.get_username() if bot.profile.bot_owner else "",
            "tokens": selectors.token_list(user=bot),
        }
        for bot in managed
    ]


def _act(request: HttpRequest, user: User, bot: User) -> services.NewToken | None:
    """One form's action on one of the user's bots (ChatError when refused)."""
    action = request.POST.get("action", "")
    if action == "look":
        upload = request.FILES.get("avatar")
        profiles.profile_update(
            user=bot,
            display_name=request.POST.get("display_name", ""),
            avatar=upload.file if upload is not None else None,
            avatar_name=upload.name or "avatar" if upload is not None else "avatar",
            avatar_remove=request.POST.get("avatar_remove") == "on",
        )
    elif action == "token":
        return services.token_create(
            user=bot, name=request.POST.get("name", "") or "bot", actor=user
        )
    elif action == "revoke":
        try:
            token_id = int(request.POST.get("token", "0"))
        except ValueError:
            token_id = 0
        services.token_revoke(token_id=token_id, user=bot, actor=user)
    elif action == "deactivate":
        bots.bot_deactivate(bot=bot, actor=user)
    return None


@never_cache  # the page can hold a new token's secret
@login_required
@require_http_methods(["GET", "POST"])
def bot_settings(request: HttpRequest) -> HttpResponse:
    user = page_user(request)
    managed = bots_managed(user)
    created: services.NewToken | None = None
    error = ""
    if request.method == "POST":
        try:
            bot_id = int(request.POST.get("bot", "0"))
        except ValueError:
            bot_id = 0
        bot = next((b for b in managed if b.pk == bot_id), None)
        if bot is None:
            raise Http404("No such bot of yours.")
        try:
            created = _act(request, user, bot)
        except ChatError as refused:
            error = refused.detail
        else:
            if created is None:
                return redirect("integrations:bots")
        managed = bots_managed(user)
    context = {"bots": _rows(managed), "created": created, "error": error}
    return render(request, "integrations/bots.html", context, status=400 if error else 200)
