"""API endpoints. Thin, like the consumer: authorize, validate the request, call one
service or selector, answer with its typed data. Posting goes through the same services
(and the same per-user rate limit) as the WebSocket, so both paths obey one set of rules,
and every WebSocket client in the room receives what is posted here live."""

import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import avatars
from accounts import selectors as account_selectors
from chat import selectors, services
from chat.api import serializers as s
from chat.api import threads
from chat.content import images
from chat.database import group_commit
from chat.errors import ChatError
from chat.limits import blocking
from chat.protocol import parsing
from chat.protocol.codes import ErrorCode

# Multipart overhead allowed on top of the image itself before a request counts as too big.
MULTIPART_SLACK_BYTES = 64 * 1024
MAX_ID = s.MAX_DB_INT


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    described = {
        400: "Invalid request (`invalid`, `bad_json`, `empty_body`, `body_too_long`, "
        "`bad_reply`, `bad_thread`, ...).",
        401: "No valid session or token (`unauthenticated`, `bad_token`).",
        403: "Not allowed (`banned`, `muted`, `room_locked`, `csrf_failed`).",
        404: "No such room, or a private room you are not a member of (`not_found`).",
        409: "The slug is taken (`slug_taken`).",
        413: "The upload is too large (`file_too_large`).",
        429: "Too many messages (`rate_limited`); see Retry-After.",
    }
    return {code: OpenApiResponse(s.ErrorSerializer, description=described[code]) for code in codes}


def _user(request: Request) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - IsAuthenticated ran first
    return request.user


def _readable_room(request: Request, slug: str) -> selectors.RoomOut:
    """The room if the caller may read it. A private room they may not read is answered
    exactly like a missing one (as the HTML pages do); a banned user is told why."""
    found, access = selectors.room_with_access(slug=slug, user_id=_user(request).pk)
    if found is not None and access["code"] == ErrorCode.BANNED:
        raise ChatError(access["code"] or ErrorCode.FORBIDDEN, access["detail"])
    if found is None or not access["read"]:
        raise ChatError(ErrorCode.ROOM_NOT_FOUND, "No such room.")
    return found


def _client_id(value: str) -> str:
    if not value:
        return uuid.uuid4().hex  # the caller gave none: no idempotency
    if len(value) > parsing.MAX_CLIENT_ID_CHARS or not value.isprintable():
        raise ChatError(
            ErrorCode.BAD_CLIENT_ID,
            f'"client_id" must be a printable string of 1 to {parsing.MAX_CLIENT_ID_CHARS} '
            "characters.",
        )
    return value


class RoomListView(APIView):
    @extend_schema(
        summary="Rooms you can see",
        description="Public rooms and the private ones you belong to (staff: all).",
        responses={200: s.RoomSerializer(many=True), **_errors(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.room_list(user=_user(request)))

    @extend_schema(
        summary="Create a room",
        description="You own it; a private room starts with you as its only member.",
        request=s.RoomCreateSerializer,
        responses={201: s.RoomSerializer, **_errors(400, 401, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        data = s.RoomCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        room = services.room_create(
            slug=fields["slug"],
            name=fields["name"],
            topic=fields["topic"],
            creator=_user(request),
            is_private=fields["is_private"],
        )
        return Response(selectors.room_out(room), status=status.HTTP_201_CREATED)


class RoomDetailView(APIView):
    @extend_schema(
        summary="A room",
        responses={200: s.RoomSerializer, **_errors(401, 403, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(_readable_room(request, slug))


class MessageListView(APIView):
    @extend_schema(
        summary="Message history",
        description=(
            "Cursor pagination by seq, oldest first in each page. Without `after`: the "
            "newest `limit` messages below `before` (page back with `before` = the first "
            "seq). With `after`: the first `limit` messages above it (page forward with "
            "`after` = the last seq). With `around`: that message and its neighbours "
            "(`has_more`: older ones exist; newer ones exist while the last seq is below "
            "`last_seq`). The same visibility rules as the WebSocket. " + threads.HISTORY_NOTE
        ),
        parameters=[s.HistoryQuerySerializer],
        responses={200: threads.HISTORY_OR_THREAD, **_errors(400, 401, 403, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        query = s.HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after, before = query.validated_data.get("after"), query.validated_data.get("before")
        around = query.validated_data.get("around")
        limit: int = query.validated_data["limit"]
        room = _readable_room(request, slug)
        root = query.validated_data.get("thread")
        if root is not None:
            return Response(
                threads.thread_replies(
                    user=_user(request),
                    room_id=room["id"],
                    root_id=root,
                    after=after,
                    before=before,
                    around=around,
                    limit=limit,
                )
            )
        if around is not None:
            if after is not None or before is not None:
                raise ChatError(ErrorCode.INVALID, '"around" goes without "before" and "after".')
            page = selectors.message_around(
                room_id=room["id"], seq=around, limit=limit, reader_id=_user(request).pk
            )
            # has_more: older messages exist above the page (newer ones: compare last_seq).
            last_seq = selectors.room_last_seqs(room_ids=[room["id"]]).get(room["id"], 0)
            older = bool(page) and selectors.message_list(
                room_id=room["id"], before=page[0]["seq"], limit=1
            )
            return Response({"messages": page, "has_more": bool(older), "last_seq": last_seq})
        page = selectors.message_list(
            room_id=room["id"],
            after=after,
            before=before,
            limit=limit + 1,
            reader_id=_user(request).pk,
        )
        has_more = len(page) > limit
        # Forward pages (after) come first-first; backward pages last-first.
        page = page[:limit] if after is not None else page[-limit:]
        last_seq = selectors.room_last_seqs(room_ids=[room["id"]]).get(room["id"], 0)
        return Response({"messages": page, "has_more": has_more, "last_seq": last_seq})

    @extend_schema(
        summary="Post a message",
        description=(
            "The same service as the WebSocket's message.send: validation, moderation "
            "(bans, mutes, locked rooms), the per-user rate limit shared with your "
            "WebSocket sends, and idempotency by `client_id`. Every WebSocket client "
            "in the room receives the message live. With `thread`: a reply in that "
            "thread (`bad_thread` if the root is not a top-level message of this room, "
            "or is deleted or hidden), shown in the room's timeline too with "
            "`also_to_room`."
        ),
        request=s.MessageCreateSerializer,
        responses={201: s.MessageSerializer, **_errors(400, 401, 403, 404, 429)},
    )
    def post(self, request: Request, slug: str) -> Response:
        data = s.MessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        client_id = _client_id(data.validated_data["client_id"])
        room = _readable_room(request, slug)
        user = _user(request)
        blocking.message_check_sync(user.pk)
        message = group_commit.post_sync(
            services.SendRequest(
                room_id=room["id"],
                author=user,
                body=data.validated_data["body"],
                client_id=client_id,
                reply_to=data.validated_data["reply_to"],
                thread=data.validated_data["thread"],
                also_to_room=data.validated_data["also_to_room"],
            )
        )
        return Response(message, status=status.HTTP_201_CREATED)


class ImageCreateView(APIView):
    parser_classes = [MultiPartParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before authentication: the session's CSRF check would read (spool) the body.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.CHAT_IMAGE_MAX_BYTES + MULTIPART_SLACK_BYTES:
            raise images.image_too_large()
        super().initial(request, *args, **kwargs)

    @extend_schema(
        summary="Post an image",
        description=(
            "multipart/form-data with `file` (JPEG, PNG, GIF or WebP, at most "
            "CHAT_IMAGE_MAX_BYTES), an optional caption `body`, `client_id`, `thread` and "
            "`also_to_room`. The image is decoded and re-encoded without metadata (EXIF "
            "stripped); a thumbnail is made. Same rules and rate limit as a text message. "
            "With `thread` (and `also_to_room`): a reply in that thread, as with /messages/ "
            "(`bad_thread` stores nothing)."
        ),
        request=s.ImageCreateSerializer,
        responses={201: s.MessageSerializer, **_errors(400, 401, 403, 404, 413, 429)},
    )
    def post(self, request: Request, slug: str) -> Response:
        room = _readable_room(request, slug)
        data = s.ImageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size is not None and upload.size > settings.CHAT_IMAGE_MAX_BYTES:
            raise images.image_too_large()
        client_id = _client_id(data.validated_data["client_id"])
        user = _user(request)
        blocking.message_check_sync(user.pk)
        message = services.message_post_image(
            room_id=room["id"],
            author=user,
            upload=upload,
            name=upload.name or "image",
            body=data.validated_data["body"],
            client_id=client_id,
            thread=data.validated_data["thread"],
            also_to_room=data.validated_data["also_to_room"],
            post=group_commit.post_sync,
        )
        return Response(message, status=status.HTTP_201_CREATED)


class _AnyAccept(BaseContentNegotiation):
    """Files are what they are: an <img> request's Accept header changes nothing."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return None

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class AttachmentView(APIView):
    """An uploaded file or image (or an image's thumbnail), only for users who may read
    its room."""

    content_negotiation_class = _AnyAccept
    thumbnail = False

    @extend_schema(
        summary="The file or image of a message",
        responses={
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The image (inline), or the file (always a download).",
            ),
            **_errors(401, 403, 404),
        },
    )
    def get(self, request: Request, attachment_id: int) -> FileResponse:
        found = None
        if 0 < attachment_id <= MAX_ID:
            found = selectors.attachment_file(
                attachment_id=attachment_id, user_id=_user(request).pk
            )
        if found is None or (not found[1]["read"] and found[1]["code"] != ErrorCode.BANNED):
            raise ChatError(ErrorCode.NOT_FOUND, "No such image.")
        attachment, access = found
        if not access["read"]:
            raise ChatError(access["code"] or ErrorCode.FORBIDDEN, access["detail"])
        image = attachment.kind == attachment.Kind.IMAGE
        if self.thumbnail and not image:
            raise ChatError(ErrorCode.NOT_FOUND, "A file has no thumbnail.")
        if not image:
            # Kept as sent, so never shown by the browser: a download under its name,
            # nosniff, and a sandbox should anything still render it.
            response = FileResponse(
                default_storage.open(str(attachment.file.name), "rb"),
                content_type=attachment.content_type,
            )
            response["Content-Disposition"] = attachment_disposition(attachment.name)
            response["X-Content-Type-Options"] = "nosniff"
            response["Content-Security-Policy"] = "default-src 'none'; sandbox"
            response["Cache-Control"] = "private, max-age=3600"
            return response
        if self.thumbnail:
            name = str(attachment.thumbnail.name)
            content_type = "image/png" if name.endswith(".png") else "image/jpeg"
            filename = attachment.name.rsplit(".", 1)[0] + "-thumb." + name.rsplit(".", 1)[-1]
        else:
            name, content_type, filename = (
                str(attachment.file.name),
                attachment.content_type,
                attachment.name,
            )
        # inline with a sanitized name: shown by the browser, never as a page (the type
        # is an image type we produced, nosniff stops guessing, the CSP sandboxes it).
        response = FileResponse(
            default_storage.open(name, "rb"), content_type=content_type, filename=filename
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "private, max-age=3600"
        return response


def attachment_disposition(name: str) -> str:
    """`attachment` with the name twice: an ASCII stand-in for old clients and the exact
    UTF-8 name (RFC 6266 / RFC 5987), which browsers prefer."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


class UserAvatarView(APIView):
    """A user's avatar: the uploaded image (re-encoded, square) or their initials on a
    colour. Served like message images: only to logged-in users, never as a page."""

    content_negotiation_class = _AnyAccept

    @extend_schema(
        summary="A user's avatar",
        description=(
            "JPEG or PNG when one was uploaded, otherwise an SVG of the initials. Cached "
            "for long when `v` is the current version (the URL in messages and `/api/users/`)."
        ),
        responses={
            (200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The avatar."),
            **_errors(401, 404),
        },
    )
    def get(self, request: Request, username: str) -> HttpResponse | FileResponse:
        found = account_selectors.avatar_file(username=username)
        if found is None:
            raise ChatError(ErrorCode.NOT_FOUND, "No such user.")
        profile, stored = found
        response: HttpResponse | FileResponse
        if stored:
            content_type = "image/png" if stored.endswith(".png") else "image/jpeg"
            response = FileResponse(default_storage.open(stored, "rb"), content_type=content_type)
        else:
            svg = avatars.default_svg(
                username=profile["username"], display_name=profile["display_name"]
            )
            response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        current = request.query_params.get("v") == profile["avatar"].rsplit("?v=", 1)[-1]
        # The current version's URL never shows another image: cache it for long.
        response["Cache-Control"] = (
            "private, max-age=31536000, immutable" if current else "private, no-cache"
        )
        return response
