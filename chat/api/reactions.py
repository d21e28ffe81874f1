"""Reactions over HTTP: the same service as the WebSocket's reaction.add/remove."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors, services
from chat.api import serializers as s
from chat.api.views import MAX_ID, _errors, _readable_room, _user
from chat.errors import ChatError
from chat.limits import blocking
from chat.protocol.codes import ErrorCode


class ReactionView(APIView):
    def _set(self, request: Request, slug: str, message_id: int, *, added: bool) -> Response:
        data = s.ReactionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        room = _readable_room(request, slug)
        if not 0 < message_id <= MAX_ID:
            raise ChatError(ErrorCode.NOT_FOUND, "No such message.")
        user = _user(request)
        blocking.message_check_sync(user.pk)  # the sender's message budget, as on the socket
        services.reaction_set(
            message_id=message_id,
            user=user,
            emoji_text=data.validated_data["emoji"],
            added=added,
            room_ids={room["id"]},
        )
        found = selectors.reactions_for([message_id], reader_id=user.pk)
        return Response({"message_id": message_id, "reactions": found.get(message_id, [])})

    @extend_schema(
        summary="React to a message",
        description=(
            'Add your `{"emoji"}` to a message of this room (the WebSocket\'s reaction.add): '
            "one of the server's emoji, at most CHAT_REACTIONS_MAX_PER_MESSAGE different "
            "ones per message, for members who may write. Adding it again changes nothing. "
            "Every WebSocket client in the room receives a `reaction` frame."
        ),
        request=s.ReactionRequestSerializer,
        responses={200: s.ReactionsSerializer, **_errors(400, 401, 403, 404, 429)},
    )
    def post(self, request: Request, slug: str, message_id: int) -> Response:
        return self._set(request, slug, message_id, added=True)

    @extend_schema(
        summary="Take your reaction back",
        description='Remove your `{"emoji"}` from a message (reaction.remove); idempotent.',
        request=s.ReactionRequestSerializer,
        responses={200: s.ReactionsSerializer, **_errors(400, 401, 403, 404, 429)},
    )
    def delete(self, request: Request, slug: str, message_id: int) -> Response:
        return self._set(request, slug, message_id, added=False)
