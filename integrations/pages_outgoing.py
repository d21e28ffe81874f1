"""The outgoing-webhooks section of a room's integrations page (HTML): its hooks, the
last 50 deliveries of each (time, status, latency, error), and the forms that create,
switch and delete them. Thin: writes through integrations/outgoing.py. A new hook's
secret is shown on the response that created it only.

`outgoing_context` is what the room's integrations page (integrations/pages.py) gives
the `_outgoing.html` include; `outgoing_page` serves the section on its own URL, where
its forms post."""

from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from chat.errors import ChatError
from chat.models import Room
from chat.protocol.codes import ErrorCode
from integrations import incoming
from integrations.deliveries import KEEP_DELIVERIES
from integrations.models import Delivery, OutgoingWebhook
from integrations.outgoing import (
    HookSettings,
    outgoing_create,
    outgoing_delete,
    outgoing_enable,
)


@dataclass
class HookRow:
    hook: OutgoingWebhook
    deliveries: list[Delivery] = field(default_factory=list)


def outgoing_may_manage(room: Room, user: User) -> bool:
    """The same people as incoming hooks (integrations/incoming.py hooks_may_manage)."""
    return incoming.hooks_may_manage(room=room, user=user)


def outgoing_context(room: Room, user: User) -> dict[str, object]:
    """The include's context: the room's hooks with their newest deliveries."""
    if not outgoing_may_manage(room, user):
        return {"outgoing_allowed": False}
    hooks = list(OutgoingWebhook.objects.filter(room=room).select_related("bot"))
    rows = [
        HookRow(hook, list(hook.deliveries.order_by("-created_at", "-pk")[:KEEP_DELIVERIES]))
        for hook in hooks
    ]
    return {"outgoing_allowed": True, "outgoing_room": room, "outgoing_hooks": rows}


def page_user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - guaranteed by login_required
    return request.user


@never_cache  # the page can hold a secret
@login_required
@require_http_methods(["GET", "POST"])
def outgoing_page(request: HttpRequest, slug: str) -> HttpResponse:
    user = page_user(request)
    room = Room.objects.filter(slug=slug, is_direct=False).first()
    if room is None or not outgoing_may_manage(room, user):
        raise Http404("No such room, or not yours to manage.")
    created: tuple[OutgoingWebhook, str] | None = None
    error = ""
    if request.method == "POST":
        try:
            created = _act(request, room, user)
        except ChatError as problem:
            error = problem.detail
        else:
            if created is None:
                return redirect("integrations_outgoing", slug=room.slug)
    context = {
        **outgoing_context(room, user),
        "outgoing_created": created[0] if created else None,
        "outgoing_secret": created[1] if created else "",
        "outgoing_error": error,
    }
    return render(request, "integrations/outgoing_page.html", context)


def _act(request: HttpRequest, room: Room, user: User) -> tuple[OutgoingWebhook, str] | None:
    action = request.POST.get("action", "")
    if action == "create":
        wanted = HookSettings(
            url=request.POST.get("url", "").strip(),
            triggers=tuple(request.POST.get("triggers", "").split()),
            on_mention=bool(request.POST.get("on_mention")),
            on_all=bool(request.POST.get("on_all")),
        )
        return outgoing_create(
            room=room, name=request.POST.get("name", ""), wanted=wanted, actor=user
        )
    try:
        hook = OutgoingWebhook.objects.get(pk=int(request.POST.get("hook", "0")), room=room)
    except (OutgoingWebhook.DoesNotExist, ValueError):
        raise ChatError(ErrorCode.NOT_FOUND, "No such webhook in this room.") from None
    if action == "enable":
        outgoing_enable(hook=hook, enabled=True)
    elif action == "disable":
        outgoing_enable(hook=hook, enabled=False, reason=f"switched off by {user.get_username()}")
    elif action == "delete":
        outgoing_delete(hook=hook)
    return None
