"""A room's integrations page (`/chat/<slug>/integrations/`): its incoming hooks, made
and revoked by those hooks_may_manage allows; the outgoing section is its own include
(templates/integrations/_outgoing.html). Thin: selectors read, services write."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from chat import selectors
from chat.errors import ChatError
from integrations import incoming
from integrations.pages_outgoing import outgoing_context, page_user


@never_cache  # the page shows a new hook's URL (its secret) once
@login_required
@require_http_methods(["GET", "POST"])
def room_integrations(request: HttpRequest, slug: str) -> HttpResponse:
    user = page_user(request)
    found, access = selectors.room_with_access(slug=slug, user_id=user.pk)
    if found is None or not access["read"]:
        raise Http404("No such room.")  # a private room one may not read: as a missing one
    room = selectors.room_model(room_id=found["id"])
    if not incoming.hooks_may_manage(room=room, user=user):
        detail = "Only staff or the room's owner manage this room's integrations."
        return render(request, "chat/forbidden.html", {"detail": detail}, status=403)
    created_url = ""
    error = ""
    if request.method == "POST":
        try:
            if request.POST.get("action") == "revoke":
                try:
                    hook_id = int(request.POST.get("hook", "0"))
                except ValueError:
                    hook_id = 0
                incoming.hook_revoke(hook_id=hook_id, room=room, actor=user)
                return redirect("integrations:room", slug=slug)
            made = incoming.hook_create(room=room, name=request.POST.get("name", ""), actor=user)
            created_url = request.build_absolute_uri(incoming.hook_path(made.key))
        except ChatError as failure:
            error = failure.detail
    context = {
        "room": found,
        "hooks": incoming.hook_list(room_id=room.pk),
        "created_url": created_url,
        "error": error,
        **outgoing_context(room, user),  # the outgoing section's include
    }
    return render(
        request, "integrations/room.html", context, status=400 if error and not created_url else 200
    )
