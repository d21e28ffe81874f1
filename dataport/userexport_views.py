"""/accounts/export/: ask for a copy of one's data, see how it is going, download it.
Transport only: the rules are dataport/userexport.py's."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import DataExport
from dataport import userexport


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - guaranteed by login_required
    return request.user


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def export_page(request: HttpRequest) -> HttpResponse:
    """GET: the latest export and its link; POST (CSRF-checked by the middleware): ask
    for a new one, at most one a day (429 with the time of the next otherwise)."""
    user = _user(request)
    status = 200
    if request.method == "POST":
        try:
            userexport.export_request(user=user, request=request)
        except userexport.ExportTooSoon:
            status = 429
        else:
            return redirect(reverse("dataport:export") + "?requested=1")
    state = userexport.export_state(user)
    latest = state.latest
    ready = (
        latest is not None
        and latest.status == DataExport.Status.READY
        and latest.expires_at is not None
        and latest.expires_at > timezone.now()
    )
    context = {
        "latest": latest,
        "ready": ready,
        "download_url": userexport.export_download_url(latest) if latest and ready else "",
        "next_at": state.next_at,
        "too_soon": status == 429,
        "requested": request.GET.get("requested") == "1",
        "days": userexport.EXPORT_VALID_DAYS,
    }
    return render(request, "accounts/export.html", context, status=status)


@login_required
@never_cache
@require_GET
def export_download(request: HttpRequest, key: str) -> FileResponse:
    """The zip, to its owner only: someone else's key, an expired or unknown one: 404."""
    user = _user(request)
    export = userexport.export_for_download(user=user, key=key)
    if export is None:
        raise Http404("No such export.")
    userexport.export_downloaded(export=export, request=request)
    stamp = (export.finished_at or export.requested_at).strftime("%Y-%m-%d")
    response = FileResponse(
        userexport.export_path(export).open("rb"),
        as_attachment=True,
        filename=f"chat-data-{user.get_username()}-{stamp}.zip",
        content_type="application/zip",
    )
    response["Cache-Control"] = "private, no-store"
    return response
