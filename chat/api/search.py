"""GET /api/search/: the search box's query language over HTTP. Thin like the other
views: validate, rate limit, call one selector. The page's search box uses it too."""

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.models import User
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors
from chat.api import serializers as s
from chat.errors import ChatError
from chat.limits import blocking
from chat.protocol.codes import ErrorCode
from chat.search.query import MAX_QUERY_CHARS, search_parse
from chat.selectors.search import MAX_SEARCH_LIMIT

MAX_CURSOR_CHARS = 40
MAX_TZ_CHARS = 64


class SearchQuerySerializer(serializers.Serializer[Any]):
    q = serializers.CharField(
        trim_whitespace=False,
        allow_blank=True,
        help_text=(
            'Words (all must match, any order), "quoted phrases", and filters: '
            "in:<room slug>, from:<username>, before:<YYYY-MM-DD>, after:<YYYY-MM-DD>, "
            "has:file, has:link, is:mention, is:thread (replies in threads only). At least "
            "one word. At most "
            f"{MAX_QUERY_CHARS} characters."
        ),
    )
    sort = serializers.ChoiceField(
        choices=["newest", "relevance"],
        default="newest",
        help_text="newest first, or relevance: messages holding the query as typed first, "
        "then by the engine's rank.",
    )
    cursor = serializers.CharField(
        required=False,
        max_length=MAX_CURSOR_CHARS,
        help_text="`next` of the previous page (same q and sort).",
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_SEARCH_LIMIT, default=20
    )
    tz = serializers.CharField(
        required=False,
        max_length=MAX_TZ_CHARS,
        help_text="IANA time zone for before:/after: days (default UTC), e.g. Europe/Paris.",
    )


class SearchResultSerializer(s.MessageSerializer):
    highlight = serializers.CharField(
        help_text=(
            "HTML: the message's text (the part around the first match when long, cut "
            "with …), escaped, each matching word in <mark>…</mark>. Safe to insert as "
            "HTML; no other tag appears."
        )
    )

    room_name = serializers.CharField(help_text="The name of the room (`room` is its slug).")


class SearchPageSerializer(serializers.Serializer[Any]):
    results = SearchResultSerializer(many=True)
    next = serializers.CharField(
        allow_null=True, help_text="Cursor of the next page; null when there is none."
    )


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ChatError(ErrorCode.BAD_TZ, "tz must be an IANA time zone name.") from None


class SearchView(APIView):
    @extend_schema(
        summary="Search messages",
        description=(
            "Messages you may read now (public rooms, private rooms and direct "
            "conversations you are a member of) matching every word of `q`, with the "
            "filters written inside `q` as in the page's search box "
            "(`q=deploy in:ops from:alice`). Deleted and hidden messages never match; an "
            "edited message matches its current text only. Cursor paging with `next`. "
            "Rate limited per user (`rate_limited`, see Retry-After). 400 codes: "
            "`empty_query` (no word), `query_too_long`, `too_many_terms`, `bad_filter`, "
            "`bad_cursor`, `bad_tz`."
        ),
        parameters=[SearchQuerySerializer],
        responses={
            200: SearchPageSerializer,
            **{
                code: OpenApiResponse(s.ErrorSerializer, description=text)
                for code, text in (
                    (400, "Invalid query (see the codes above)."),
                    (401, "No valid session or token."),
                    (429, "Too many searches (`rate_limited`)."),
                )
            },
        },
    )
    def get(self, request: Request) -> Response:
        data = SearchQuerySerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        query = search_parse(fields["q"])
        zone = _zone(fields.get("tz"))
        assert isinstance(request.user, User)  # noqa: S101 - IsAuthenticated ran first
        user_id = request.user.pk
        blocking.search_check_sync(user_id)
        page = selectors.message_search(
            user_id=user_id,
            query=query,
            sort=fields["sort"],
            cursor=fields.get("cursor"),
            limit=fields["limit"],
            tz=zone,
        )
        return Response(page)
