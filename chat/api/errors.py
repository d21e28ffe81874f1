"""API errors as JSON: {"error": {"code": ..., "detail": ...}} with the HTTP status the
code calls for. Codes are the WebSocket protocol's (ChatError) where one exists."""

import math
from typing import Any

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from chat.errors import ChatError
from chat.limits.policy import RateLimited

STATUS_FOR_CODE = {
    "not_found": status.HTTP_404_NOT_FOUND,
    "room_not_found": status.HTTP_404_NOT_FOUND,
    "forbidden": status.HTTP_403_FORBIDDEN,
    "banned": status.HTTP_403_FORBIDDEN,
    "muted": status.HTTP_403_FORBIDDEN,
    "room_locked": status.HTTP_403_FORBIDDEN,
    "file_too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "slug_taken": status.HTTP_409_CONFLICT,
    "rate_limited": status.HTTP_429_TOO_MANY_REQUESTS,
}

# DRF's own exceptions -> our codes (anything else keeps DRF's default code).
_DRF_CODES = {
    exceptions.NotAuthenticated: "unauthenticated",
    exceptions.AuthenticationFailed: "bad_token",
    exceptions.ParseError: "bad_json",
    exceptions.ValidationError: "invalid",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.Throttled: "rate_limited",
}


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "detail": detail, **extra}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER. None (a plain 500) for anything unexpected."""
    if isinstance(exc, ChatError):
        http_status = STATUS_FOR_CODE.get(exc.code, status.HTTP_400_BAD_REQUEST)
        if isinstance(exc, RateLimited):
            return Response(
                error_body(exc.code, exc.detail, retry_after=exc.retry_after),
                status=http_status,
                headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
            )
        set_rollback()
        return Response(error_body(exc.code, exc.detail), status=http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers: dict[str, str] = {}
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    code = next((c for kind, c in _DRF_CODES.items() if isinstance(exc, kind)), "")
    if isinstance(exc, exceptions.PermissionDenied):
        csrf = str(exc.detail).startswith("CSRF Failed")
        code = "csrf_failed" if csrf else "forbidden"
    if isinstance(exc, exceptions.ValidationError):
        body = error_body(code, "The request is not valid.", field_errors=exc.detail)
    else:
        body = error_body(code or str(exc.default_code), str(exc.detail))
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


@csrf_exempt  # it changes nothing; a 404 should not turn into a CSRF 403 page
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown /api/ paths: a JSON 404 rather than the HTML page."""
    return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)
