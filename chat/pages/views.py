"""HTML pages. Thin: read through selectors, write through services."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from chat import selectors, services
from chat.errors import ChatError
from chat.forms import RoomForm
from chat.protocol.codes import ErrorCode

# As long as a topic: longer is cut, not refused.
MAX_ROOM_QUERY_CHARS = 200


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - guaranteed by login_required
    return request.user


@login_required
def browse(request: HttpRequest, error: str = "") -> HttpResponse:
    """Browse rooms: public rooms to join or leave, with member counts, and the private
    rooms the user is in; `?q=` keeps those whose name or topic contains it. Also the
    site's front page."""
    query = " ".join(request.GET.get("q", "").split())[:MAX_ROOM_QUERY_CHARS]
    rooms = selectors.room_directory(user=_user(request), query=query)
    return render(
        request,
        "chat/index.html",
        {"rooms": rooms, "error": error, "q": query, "max_query_chars": MAX_ROOM_QUERY_CHARS},
        status=400 if error else 200,
    )


@login_required
@require_POST
def room_join(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        services.room_join(user=_user(request), slug=slug)
    except ChatError as error:
        return browse(request, error=error.detail)
    return redirect("chat:room", slug=slug)


@login_required
@require_POST
def room_leave(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        services.room_leave(user=_user(request), slug=slug)
    except ChatError as error:
        return browse(request, error=error.detail)
    return redirect("chat:browse")


@login_required
@require_http_methods(["GET", "POST"])
def room_create(request: HttpRequest) -> HttpResponse:
    form = RoomForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            room = services.room_create(
                slug=form.cleaned_data["slug"],
                name=form.cleaned_data["name"],
                topic=form.cleaned_data["topic"],
                creator=_user(request),
                is_private=form.cleaned_data["is_private"],
            )
        except ChatError as error:  # taken between the form's check and the insert
            form.add_error("slug", error.detail)
        else:
            return redirect("chat:room", slug=room.slug)
    return render(request, "chat/room_create.html", {"form": form})


class _Banned(Exception):
    def __init__(self, detail: str) -> None:
        self.detail = detail


def _readable_room(request: HttpRequest, slug: str) -> selectors.RoomOut:
    # A private room a user may not read is answered exactly like a missing one; a
    # banned user knows the room, so is told why they cannot enter.
    found, access = selectors.room_with_access(slug=slug, user_id=_user(request).pk)
    if found is not None and access["code"] == ErrorCode.BANNED:
        raise _Banned(access["detail"])
    if found is None or not access["read"]:
        raise Http404("No such room.")
    return found


@login_required
def room(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        found = _readable_room(request, slug)
    except _Banned as banned:
        return render(request, "chat/forbidden.html", {"detail": banned.detail}, status=403)
    can_manage = (
        found["is_private"]
        and not found["is_direct"]
        and (request.user.is_staff or found["owner_id"] == _user(request).pk)
    )
    # Who may open a room's integrations page (integrations/incoming.py hooks_may_manage):
    # the page's own rooms switch without a reload, so it tells the script the rule.
    hooks_open = (
        "staff"
        if request.user.is_staff
        else "members"
        if settings.CHAT_WEBHOOKS_MEMBERS_MAY_CREATE
        else ""
    )
    context = {
        "room": found,
        "max_body_chars": settings.CHAT_MAX_BODY_CHARS,
        "max_file_bytes": settings.CHAT_FILE_MAX_BYTES,
        "can_manage": can_manage,
        # The room's settings (its retention span, dataport/retention_views.py): linked
        # for staff and a private room's owner, the rule the page's script knows too
        # (roomview.js); a public room's owner reaches /chat/<slug>/settings/ by URL.
        "can_configure": not found["is_direct"] and (request.user.is_staff or can_manage),
        "hooks_open": hooks_open,
        "can_hook": not found["is_direct"]
        and (can_manage or (not found["is_private"] and hooks_open != "")),
    }
    return render(request, "chat/room.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def room_members(request: HttpRequest, slug: str) -> HttpResponse:
    """The owner (or staff) adds and removes members of a private room."""
    try:
        found = _readable_room(request, slug)
    except _Banned:
        raise Http404("No such room.") from None
    room_obj = selectors.room_model(room_id=found["id"])
    error = ""
    if request.method == "POST":
        target = selectors.user_get(username=request.POST.get("username", ""))
        try:
            if target is None:
                raise ChatError(ErrorCode.NOT_FOUND, "No such user.")
            if request.POST.get("action") == "remove":
                services.membership_remove(room=room_obj, user=target, actor=_user(request))
            else:
                services.membership_add(room=room_obj, user=target, actor=_user(request))
            return redirect("chat:room_members", slug=slug)
        except ChatError as failure:
            error = failure.detail
    members = selectors.room_members(room_id=found["id"])
    return render(
        request, "chat/room_members.html", {"room": found, "members": members, "error": error}
    )


@login_required
def dm(request: HttpRequest, username: str) -> HttpResponse:
    other = selectors.user_get(username=username, active_only=True)
    if other is None or other.pk == _user(request).pk:
        raise Http404("No such user.")
    room_obj = services.dm_open(user=_user(request), other=other)
    return redirect("chat:room", slug=room_obj.slug)
