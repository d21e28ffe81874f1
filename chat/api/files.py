"""File uploads (any file; images take the image path) and how a stored file is named
in a download. Thin, like chat/api/views.py: authorize, validate, call one service."""

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import services
from chat.api import serializers as s
from chat.api.views import MULTIPART_SLACK_BYTES, _client_id, _errors, _readable_room, _user
from chat.content import uploads
from chat.database import group_commit
from chat.limits import blocking
from chat.services.files import file_too_large


def _content_length(request: Request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class FileCreateView(APIView):
    parser_classes = [MultiPartParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before authentication: the session's CSRF check would read (spool) the body.
        if _content_length(request) > settings.CHAT_FILE_MAX_BYTES + MULTIPART_SLACK_BYTES:
            raise file_too_large()
        super().initial(request, *args, **kwargs)

    @extend_schema(
        summary="Post a file",
        description=(
            "multipart/form-data with `file` (any file, at most CHAT_FILE_MAX_BYTES), an "
            "optional caption `body`, `client_id`, `thread` and `also_to_room`. A JPEG, PNG, "
            "GIF or WebP image that decodes becomes an image message (as with /images/); "
            "anything else is stored under a name of the server's and served only as a "
            "download. Same rules and rate limit as a text message. With `thread` (and "
            "`also_to_room`): a reply in that thread, as with /messages/ (`bad_thread` "
            "stores nothing)."
        ),
        request=s.FileCreateSerializer,
        responses={201: s.MessageSerializer, **_errors(400, 401, 403, 404, 413, 429)},
    )
    def post(self, request: Request, slug: str) -> Response:
        data = s.FileCreateSerializer(data=request.data)
        # Stopped while streaming (chat/content/uploads.py): the file part is missing, say why.
        if uploads.too_large(request._request):
            raise file_too_large()
        room = _readable_room(request, slug)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        client_id = _client_id(data.validated_data["client_id"])
        user = _user(request)
        blocking.message_check_sync(user.pk)
        message = services.message_post_file(
            room_id=room["id"],
            author=user,
            upload=upload,
            body=data.validated_data["body"],
            client_id=client_id,
            thread=data.validated_data["thread"],
            also_to_room=data.validated_data["also_to_room"],
            post=group_commit.post_sync,
        )
        return Response(message, status=status.HTTP_201_CREATED)
