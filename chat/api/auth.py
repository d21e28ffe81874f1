"""API authentication: personal tokens sent as `Authorization: Bearer <token>`. (Session
cookies go through DRF's SessionAuthentication, which enforces CSRF; token requests
carry no ambient credentials, so they need none.)"""

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from chat import selectors, services
from chat.models import ApiToken

MAX_TOKEN_CHARS = 200


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None  # not ours: the session may still authenticate the request
        if len(parts) != 2 or len(parts[1]) > MAX_TOKEN_CHARS:
            raise AuthenticationFailed("Send the header as: Authorization: Bearer <token>.")
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("The token is not valid.") from None
        found = selectors.token_user(digest=services.token_digest(secret))
        if found is None:
            raise AuthenticationFailed("The token is not valid (revoked, or the user is inactive).")
        token, user = found
        services.token_used(token=token)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer an unauthenticated request with 401 (not 403) and this header.
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Declares the token in the OpenAPI schema (Swagger UI's Authorize button)."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token from /settings/tokens/.",
        }
