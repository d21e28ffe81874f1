"""The people directory (/people/): active users by username and display name, with
presence and local time, each with a "Message" button to their direct conversation.
Reads only, through accounts' selector and the presence store; shows nothing of rooms."""

from datetime import datetime
from typing import TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts import selectors as account_selectors
from chat.presence.online import users_online


class PersonRow(TypedDict):
    username: str
    display_name: str
    avatar: str
    timezone: str
    online: bool
    local_time: str  # "14:05" in their zone, "" when they set none
    is_me: bool
    author_bot: bool  # a bot account: the row shows the BOT badge


def local_time(zone_name: str, now: datetime) -> str:
    """The time in this IANA zone as HH:MM, "" for none or an unknown name."""
    if not zone_name:
        return ""
    try:
        return now.astimezone(ZoneInfo(zone_name)).strftime("%H:%M")
    except (ZoneInfoNotFoundError, ValueError):
        return ""


def _page_number(raw: str | None) -> int:
    try:
        number = int(raw or "1")
    except ValueError:
        return 1
    return min(max(number, 1), account_selectors.MAX_PEOPLE_PAGE)


@login_required
def people(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[: account_selectors.MAX_PEOPLE_QUERY_CHARS]
    page = account_selectors.people_search(query=query, page=_page_number(request.GET.get("page")))
    online = users_online([person["username"] for person in page["results"]])
    now = timezone.now()
    me = request.user.get_username()
    rows: list[PersonRow] = [
        {
            "username": person["username"],
            "display_name": person["display_name"],
            "avatar": person["avatar"],
            "timezone": person["timezone"],
            "online": person["username"] in online,
            "local_time": local_time(person["timezone"], now),
            "is_me": person["username"] == me,
            "author_bot": person["author_bot"],
        }
        for person in page["results"]
    ]
    return render(
        request,
        "chat/people.html",
        {
            "people": rows,
            "q": query,
            "page": page["page"],
            "has_more": page["has_more"],
            "previous_page": page["page"] - 1 if page["page"] > 1 else None,
        },
    )
