"""Web Push over HTTP: the subscription API (DRF, like chat/api: the same
authentication, CSRF for sessions, error shape and OpenAPI schema), the service worker
and the web app manifest. Thin: validation rules and writes are notify/subscriptions.py.

The service worker is served by a view, not as a static file: static names carry a
content hash, and a worker's URL must stay the same for the browser to update it in
place; at the site root its scope is the whole site."""

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.templatetags.static import static
from django.views.decorators.http import require_safe
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.api.errors import error_body
from chat.api.serializers import ErrorSerializer
from chat.protocol.codes import ErrorCode
from notify import subscriptions

SERVICE_WORKER_PATH = Path(__file__).resolve().parent / "static" / "notify" / "sw.js"
# The colours of the page header and body (chat/static/chat/chat.css).
THEME_COLOR = "#24324a"
BACKGROUND_COLOR = "#f6f7f9"
SITE_NAME = "Chat"


class PushKeysSerializer(serializers.Serializer[Any]):
    p256dh = serializers.CharField(max_length=200, help_text="The browser's P-256 key, base64url.")
    auth = serializers.CharField(max_length=100, help_text="The 16-byte auth secret, base64url.")


class PushSubscriptionInSerializer(serializers.Serializer[Any]):
    """The browser's PushSubscription.toJSON(), as it comes."""

    endpoint = serializers.CharField(max_length=subscriptions.MAX_ENDPOINT_CHARS)
    keys = PushKeysSerializer()
    expirationTime = serializers.IntegerField(  # the browser's own name
        required=False, allow_null=True, help_text="Ignored (browsers send null)."
    )


class PushEndpointSerializer(serializers.Serializer[Any]):
    endpoint = serializers.CharField(max_length=subscriptions.MAX_ENDPOINT_CHARS)


class PushSubscriptionOutSerializer(serializers.Serializer[Any]):
    endpoint = serializers.CharField()
    created = serializers.BooleanField(help_text="False: it was registered already.")


class PushKeyOutSerializer(serializers.Serializer[Any]):
    public_key = serializers.CharField(
        help_text="The server's VAPID public key: the applicationServerKey to subscribe with."
    )


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    described = {
        400: "Invalid subscription (`invalid`, `bad_json`, `bad_endpoint`, `bad_keys`).",
        401: "No valid session or token (`unauthenticated`, `bad_token`).",
        403: "CSRF check failed (`csrf_failed`).",
        404: "No such subscription of yours, or Web Push is off (`not_found`, `push_off`).",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=described[code]) for code in codes}


def _user(request: Request) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - IsAuthenticated ran first
    return request.user


class PushSubscriptionView(APIView):
    @extend_schema(
        summary="Register this browser for Web Push",
        description=(
            "Body: the browser's `PushSubscription.toJSON()`. Registering an endpoint again "
            "refreshes it and makes it yours (a device notifies whoever uses it now)."
        ),
        request=PushSubscriptionInSerializer,
        responses={
            201: PushSubscriptionOutSerializer,
            200: PushSubscriptionOutSerializer,
            **_errors(400, 401, 403),
        },
    )
    def post(self, request: Request) -> Response:
        given = PushSubscriptionInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        _, created = subscriptions.push_subscription_save(
            user=_user(request),
            endpoint=given.validated_data["endpoint"],
            p256dh=given.validated_data["keys"]["p256dh"],
            auth=given.validated_data["keys"]["auth"],
            user_agent=request.headers.get("User-Agent", ""),
        )
        return Response(
            {"endpoint": given.validated_data["endpoint"], "created": created},
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Stop Web Push to this browser",
        request=PushEndpointSerializer,
        responses={204: None, **_errors(400, 401, 403, 404)},
    )
    def delete(self, request: Request) -> Response:
        given = PushEndpointSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        subscriptions.push_subscription_delete(
            user=_user(request), endpoint=given.validated_data["endpoint"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class PushKeyView(APIView):
    @extend_schema(
        summary="The VAPID public key",
        description="404 `push_off` when the server has no VAPID keys (Web Push is off).",
        responses={200: PushKeyOutSerializer, **_errors(401, 404)},
    )
    def get(self, request: Request) -> Response:
        if not (settings.CHAT_VAPID_PUBLIC_KEY and settings.CHAT_VAPID_PRIVATE_KEY):
            body = error_body(ErrorCode.PUSH_OFF, "Web Push is not configured on this server.")
            return Response(body, status=status.HTTP_404_NOT_FOUND)
        return Response({"public_key": settings.CHAT_VAPID_PUBLIC_KEY})


@cache
def _service_worker() -> tuple[bytes, str]:
    source = SERVICE_WORKER_PATH.read_bytes()
    return source, '"' + hashlib.sha256(source).hexdigest()[:32] + '"'


@require_safe
def service_worker(request: HttpRequest) -> HttpResponse:
    """The worker at /sw.js. `no-cache`: browsers revalidate on every update check (an
    unchanged worker costs a 304), so a deploy reaches them at the next navigation."""
    source, etag = _service_worker()
    if request.headers.get("If-None-Match") == etag:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(source, content_type="text/javascript; charset=utf-8")
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/"
    return response


def _icon(name: str, size: int, purpose: str) -> dict[str, str]:
    return {
        "src": static(f"chat/icons/{name}"),
        "sizes": f"{size}x{size}",
        "type": "image/png",
        "purpose": purpose,
    }


@require_safe
def manifest(request: HttpRequest) -> HttpResponse:
    """The web app manifest: the site installs as an app (own window, icon, and
    notifications that come from "Chat" rather than from a browser tab)."""
    body = {
        "id": "/",
        "name": SITE_NAME,
        "short_name": SITE_NAME,
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": [
            _icon("icon-192.png", 192, "any"),
            _icon("icon-512.png", 512, "any"),
            _icon("icon-maskable-512.png", 512, "maskable"),
        ],
    }
    response = HttpResponse(json.dumps(body), content_type="application/manifest+json")
    # Icon URLs carry content hashes that change with a deploy: keep the manifest short-lived.
    response["Cache-Control"] = "public, max-age=3600"
    return response
