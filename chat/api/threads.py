"""Threads over HTTP: the replies of one thread (`GET /api/rooms/<slug>/messages/?thread=`,
answered here for views.MessageListView) and the followed threads
(`GET /api/threads/`), the same items as the WebSocket's `threads.fetch`. Thin like the
other views: validate, call one service or selector, answer its typed data."""

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors, services
from chat.api import serializers as s
from chat.errors import ChatError
from chat.protocol.codes import ErrorCode
from chat.protocol.thread_frames import DEFAULT_THREADS_LIMIT, MAX_CURSOR_CHARS, MAX_THREADS_LIMIT


class ThreadHistorySerializer(s.HistorySerializer):
    """The answer of `?thread=`: `messages` are the replies, oldest first."""

    thread = serializers.IntegerField(help_text="The root's id (as asked).")
    root = s.MessageSerializer(
        help_text='The root (shown as "deleted", without content, if it was deleted).'
    )


# The message list's answer and documentation, with or without `thread`.
HISTORY_OR_THREAD = PolymorphicProxySerializer(
    component_name="HistoryOrThread",
    serializers=[s.HistorySerializer, ThreadHistorySerializer],
    resource_type_field_name=None,
    many=False,
)
HISTORY_NOTE = (
    "The room's timeline holds top-level messages and the thread replies sent with "
    "`also_to_room`. With `thread=<root id>`: that thread's replies instead (not the "
    "root), paged the same way, with `thread` and `root` in the answer and `last_seq` the "
    "thread's newest reply seq (`bad_thread` for a root that is not a top-level message "
    "of this room)."
)


def thread_replies(
    *,
    user: User,
    room_id: int,
    root_id: int,
    after: int | None,
    before: int | None,
    around: int | None,
    limit: int,
) -> dict[str, Any]:
    """A page of the thread's replies, paged like the room's history: `has_more` says
    more lie beyond the page in the direction paged (older ones, for `around`);
    `last_seq` is the thread's newest reply seq. ChatError bad_thread for a root that
    is not a top-level message of the room."""
    if around is not None:
        if after is not None or before is not None:
            raise ChatError(ErrorCode.INVALID, '"around" goes without "before" and "after".')
        root, page = services.thread_history(
            room_id=room_id, root_id=root_id, user=user, before=None, around=around, limit=limit
        )
        older = bool(page) and selectors.message_list(
            room_id=room_id, before=page[0]["seq"], limit=1, thread=root_id
        )
        has_more = bool(older)
    else:
        root, page = services.thread_history(
            room_id=room_id,
            root_id=root_id,
            user=user,
            before=before,
            after=after,
            limit=limit + 1,
        )
        has_more = len(page) > limit
        # Forward pages (after) come first-first; backward pages last-first.
        page = page[:limit] if after is not None else page[-limit:]
    summary = root["thread_summary"]
    return {
        "thread": root_id,
        "root": root,
        "messages": page,
        "has_more": has_more,
        "last_seq": summary["last_seq"] if summary is not None else 0,
    }


class ThreadsQuerySerializer(serializers.Serializer[Any]):
    unread = serializers.BooleanField(
        required=False,
        default=False,
        help_text="1/true: only the threads with an unread reply (the Unreads filter).",
    )
    before = serializers.CharField(
        required=False,
        max_length=MAX_CURSOR_CHARS,
        help_text="`next` of the previous page (same `unread`).",
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_THREADS_LIMIT, default=DEFAULT_THREADS_LIMIT
    )


class ThreadItemSerializer(serializers.Serializer[Any]):
    room = serializers.SlugField()
    root = s.MessageSerializer(help_text="The thread's root message.")
    summary = s.ThreadSummarySerializer()
    following = serializers.BooleanField()
    last_read_seq = serializers.IntegerField(
        help_text="The highest reply seq you have read in the thread."
    )
    unread = serializers.IntegerField(help_text="Replies after it, by others, still shown.")
    mentions = serializers.IntegerField(help_text="Of those, the ones that mention you.")


class ThreadsPageSerializer(serializers.Serializer[Any]):
    items = ThreadItemSerializer(many=True)
    next = serializers.CharField(
        allow_null=True, help_text="Pass as `before` for the next page; null: the last page."
    )


class ThreadListView(APIView):
    @extend_schema(
        summary="Threads you follow",
        description=(
            "The threads you follow in rooms you may read now, the newest last reply "
            "first, with your pointer and exact unread and mention counts: the same items "
            "as the WebSocket's `threads.fetch`. Page with `before` = `next` until it is "
            "null. 400 `bad_cursor` for a cursor this endpoint did not give out."
        ),
        parameters=[ThreadsQuerySerializer],
        responses={
            200: ThreadsPageSerializer,
            **{
                code: OpenApiResponse(s.ErrorSerializer, description=text)
                for code, text in (
                    (400, "Invalid request (`invalid`, `bad_cursor`)."),
                    (401, "No valid session or token (`unauthenticated`, `bad_token`)."),
                )
            },
        },
    )
    def get(self, request: Request) -> Response:
        query = ThreadsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fields = query.validated_data
        assert isinstance(request.user, User)  # noqa: S101 - IsAuthenticated ran first
        page = selectors.threads_page(
            user_id=request.user.pk,
            unread=fields["unread"],
            before=fields.get("before") or None,
            limit=fields["limit"],
        )
        return Response(page)
