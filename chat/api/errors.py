"""API errors as JSON: {"error": {"code": ..., "detail": ...}} with the HTTP status the
code calls for (chat/protocol/codes.py). Codes are the WebSocket protocol's where one
exists."""

import math
from typing import Any

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from chat.database import outage
from chat.errors import ChatError
from chat.limits.policy import RateLimited
from chat.protocol.codes import ErrorCode

# DRF's own exceptions -> our codes (anything else keeps DRF's default code).
_DRF_CODES: dict[type[exceptions.APIException], ErrorCode] = {
    exceptions.NotAuthenticated: ErrorCode.UNAUTHENTICATED,
    exceptions.AuthenticationFailed: ErrorCode.BAD_TOKEN,
    exceptions.ParseError: ErrorCode.BAD_JSON,
    exceptions.ValidationError: ErrorCode.INVALID,
    exceptions.NotFound: ErrorCode.NOT_FOUND,
    exceptions.MethodNotAllowed: ErrorCode.METHOD_NOT_ALLOWED,
    exceptions.UnsupportedMediaType: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    exceptions.NotAcceptable: ErrorCode.NOT_ACCEPTABLE,
    exceptions.Throttled: ErrorCode.RATE_LIMITED,
}


UNAVAILABLE_RETRY_AFTER_SECONDS = 2  # a restarting PostgreSQL answers again in seconds


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "detail": detail, **extra}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER. None (a plain 500) for anything unexpected."""
    if outage.is_outage(exc):
        # The database is away (a restart, a failover): a retryable 503, not a traceback.
        outage.seen()
        set_rollback()
        response = Response(
            error_body(ErrorCode.UNAVAILABLE, outage.UNAVAILABLE_DETAIL),
            status=ErrorCode.UNAVAILABLE.spec.status,
            headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
        )
        # Not an ERROR line per refused request from django.request: the process's
        # periodic tasks log the outage, once (chat/database/outage.py).
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response
    if isinstance(exc, ChatError):
        http_status = exc.code.spec.status  # one table for every code: chat/protocol/codes.py
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
    code: str = next((c for kind, c in _DRF_CODES.items() if isinstance(exc, kind)), "")
    if isinstance(exc, exceptions.PermissionDenied):
        csrf = str(exc.detail).startswith("CSRF Failed")
        code = ErrorCode.CSRF_FAILED if csrf else ErrorCode.FORBIDDEN
    if isinstance(exc, exceptions.ValidationError):
        body = error_body(code, "The request is not valid.", field_errors=exc.detail)
    else:
        body = error_body(code or str(exc.default_code), str(exc.detail))
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


@csrf_exempt  # it changes nothing; a 404 should not turn into a CSRF 403 page
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown /api/ paths: a JSON 404 rather than the HTML page."""
    return JsonResponse(error_body(ErrorCode.NOT_FOUND, "No such API endpoint."), status=404)
