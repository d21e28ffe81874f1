"""People under /api/users/: the usernames lookup and the people search (the directory
and the direct-message picker), and one person as their profile card shows them, with
whether they are online. Nothing about anyone's rooms (docs/api.md, "People")."""

from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as account_selectors
from chat.api import serializers as s
from chat.api.views import _errors, _user
from chat.errors import ChatError
from chat.limits import blocking
from chat.presence.online import users_online
from chat.protocol.codes import ErrorCode


def _people_online(people: list[account_selectors.PersonOut]) -> list[dict[str, Any]]:
    online = users_online([person["username"] for person in people])
    return [{**person, "online": person["username"] in online} for person in people]


class UserListView(APIView):
    @extend_schema(
        summary="Users' display names and avatars; search people",
        description=(
            "What any logged-in user may see of other users: username, display name and "
            "avatar URL. With `usernames`: those users (at most 100; unknown and "
            "deactivated users are left out), a list. With `q`: a search of the active "
            "users by username and display name (the people directory and the direct "
            "message picker), a page of people who also carry `timezone` and `online`; "
            "rate limited per user (`rate_limited`, see Retry-After)."
        ),
        parameters=[s.UserQuerySerializer],
        responses={
            200: PolymorphicProxySerializer(
                component_name="UsersOrPeople",
                serializers=[s.UserSerializer(many=True), s.PeoplePageSerializer],
                resource_type_field_name=None,
                many=False,
            ),
            **_errors(400, 401, 429),
        },
    )
    def get(self, request: Request) -> Response:
        query = s.UserQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if "q" in query.validated_data:
            blocking.people_check_sync(_user(request).pk)
            found = account_selectors.people_search(
                query=query.validated_data["q"], page=query.validated_data["page"]
            )
            return Response({**found, "results": _people_online(found["results"])})
        names = [name.strip() for name in query.validated_data["usernames"].split(",")]
        names = [name for name in names if name]
        if len(names) > account_selectors.MAX_USERNAMES_PER_LOOKUP:
            raise ChatError(
                ErrorCode.INVALID,
                f"Ask for at most {account_selectors.MAX_USERNAMES_PER_LOOKUP} usernames.",
            )
        return Response(account_selectors.profiles_by_username(names))


class UserDetailView(APIView):
    @extend_schema(
        operation_id="users_person",
        summary="One person, as their profile card shows them",
        description=(
            "An active user's username, display name, avatar, time zone and whether they "
            "are online now. Nothing about their rooms. 404 `not_found` for an unknown or "
            "deactivated username."
        ),
        responses={200: s.PersonSerializer, **_errors(401, 404)},
    )
    def get(self, request: Request, username: str) -> Response:
        person = account_selectors.person_by_username(username)
        if person is None:
            raise ChatError(ErrorCode.NOT_FOUND, "No such user.")
        return Response(_people_online([person])[0])
