"""HTML pages. Thin: read through selectors, write through services."""

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from chat import selectors, services
from chat.forms import RoomForm


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/index.html", {"rooms": selectors.room_list()})


@login_required
@require_http_methods(["GET", "POST"])
def room_create(request: HttpRequest) -> HttpResponse:
    form = RoomForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        assert request.user.is_authenticated  # noqa: S101 - guaranteed by login_required
        room = services.room_create(
            slug=form.cleaned_data["slug"],
            name=form.cleaned_data["name"],
            topic=form.cleaned_data["topic"],
            creator=request.user,
        )
        return redirect("chat:room", slug=room.slug)
    return render(request, "chat/room_create.html", {"form": form})


@login_required
def room(request: HttpRequest, slug: str) -> HttpResponse:
    found = selectors.room_get(slug=slug)
    if found is None:
        raise Http404("No such room.")
    context = {"room": found, "max_body_chars": settings.CHAT_MAX_BODY_CHARS}
    return render(request, "chat/room.html", context)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form: UserCreationForm[User] = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("chat:index")
    return render(request, "registration/signup.html", {"form": form})
