"""Probe endpoints for load balancers and monitoring: /healthz, /readyz, /metrics.

Answered by a middleware placed first, before the host, HTTPS-redirect and session
middleware: a probe to 127.0.0.1:800N carries whatever Host header its tool sends, and
must neither be refused by ALLOWED_HOSTS nor redirected nor cost a session lookup.
Reads only (a `SELECT 1`, a Redis `PING`); answers never carry host names, addresses
or exception texts.
"""

import asyncio
import concurrent.futures
import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from chat import realtime
from chat.database import outage
from chat.limits import policy
from chat.ops import observability
from chat.ops.redis_client import redis_client

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0  # a dependency slower than this counts as down

# One thread of its own for the database check: a hung connect never blocks the thread
# Django runs sync views in, and at most one check is in flight (see _database_ok).
_db_executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz")
_db_check: concurrent.futures.Future[None] | None = None
# Probes come every few seconds: an outage is logged once, and once more when it ends.
_db_outages = outage.OutageLog(logger, "readyz")


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _select_one() -> None:
    # A fresh connection each time, closed after: the check proves a new connection can
    # be made (what a restarted process would need), and this thread holds none between
    # probes. Probes come every few seconds, so the connect costs next to nothing.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


async def _database_ok() -> bool:
    global _db_check
    # A check still running (a database that does not answer) is waited on again rather
    # than queueing another behind it in the one thread.
    if _db_check is None or _db_check.done():
        _db_check = _db_executor.submit(_select_one)
    try:
        pending = asyncio.shield(asyncio.wrap_future(_db_check))
        await asyncio.wait_for(pending, CHECK_TIMEOUT_SECONDS)
    except Exception as error:
        # Any failure (no answer within the bound too) counts as the database down; it
        # also tells every thread to make a new connection, so the first send after a
        # restart does not meet a connection the restart closed.
        _db_outages.down(type(error).__name__)
        return False
    _db_outages.ok()
    return True


async def _redis_ok() -> bool:
    """REDIS_URL's server (under Sentinel: the primary the sentinels name now) and each
    channel-layer shard answer PING."""
    urls = [settings.REDIS_URL, *settings.CHAT_LAYER_REDIS_URLS]
    return all(await asyncio.gather(*(_redis_ping(url) for url in urls)))


async def _redis_ping(url: str) -> bool:
    # A client per check: one TCP connect on loopback is cheap, and a pool kept across a
    # Redis restart would answer its first PING with the broken connection's error.
    client = redis_client(url, timeout=CHECK_TIMEOUT_SECONDS / 2)
    try:
        return bool(await asyncio.wait_for(client.ping(), CHECK_TIMEOUT_SECONDS))
    except Exception as error:
        logger.warning("readyz: redis check failed (%s)", type(error).__name__)
        return False
    finally:
        await client.aclose()


async def healthz(request: HttpRequest) -> HttpResponse:
    """The process runs and answers HTTP."""
    return _no_store(JsonResponse({"status": "ok"}))


async def readyz(request: HttpRequest) -> HttpResponse:
    """Every dependency answers and the process is not shutting down: 200, else 503."""
    checks: dict[str, bool] = {}
    if settings.REDIS_URL:
        checks["database"], checks["redis"] = await asyncio.gather(_database_ok(), _redis_ok())
    else:
        checks["database"] = await _database_ok()
    checks["accepting"] = not realtime.current().shutting_down
    ready = all(checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    response = _no_store(JsonResponse(body, status=200 if ready else 503))
    if not ready:
        # Not one more ERROR line per probe from django.request: the checks log an
        # outage themselves, once (chat/database/outage.py).
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _metrics_allowed(request: HttpRequest) -> int:
    """0 when the request may read /metrics, else the status to answer."""
    token: str = settings.CHAT_METRICS_TOKEN
    networks: list[str] = settings.CHAT_METRICS_ALLOWED_IPS
    if not token and not networks:
        return 404  # metrics are off until one of the two is set
    if networks:
        scope = getattr(request, "scope", None)
        ip = policy.client_ip(scope) if isinstance(scope, dict) else request.META.get("REMOTE_ADDR")
        try:
            address = ipaddress.ip_address(ip or "")
        except ValueError:
            return 403
        if not any(address in ipaddress.ip_network(net, strict=False) for net in networks):
            return 403
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return 401
    return 0


async def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format for every chat process of this host (see observability)."""
    refused = _metrics_allowed(request)
    if refused:
        response = HttpResponse(
            json.dumps({"status": "forbidden" if refused != 404 else "not found"}),
            status=refused,
            content_type="application/json",
        )
        if refused == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return _no_store(response)
    body, content_type = await asyncio.to_thread(observability.render)
    return _no_store(HttpResponse(body, content_type=content_type))


PROBES: dict[str, Callable[[HttpRequest], Awaitable[HttpResponse]]] = {
    "/healthz": healthz,
    "/readyz": readyz,
    "/metrics": metrics,
}


class ProbeMiddleware:
    """Answers the probe paths (GET and HEAD) itself; everything else passes through.

    Both sync and async: under daphne the chain is async and probes cost no thread hop;
    under WSGI (the test client, management tools) other requests stay synchronous."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    @staticmethod
    def _probe(request: HttpRequest) -> Callable[[HttpRequest], Awaitable[HttpResponse]] | None:
        if request.method not in {"GET", "HEAD"}:
            return None
        return PROBES.get(request.path_info)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        probe = self._probe(request)
        if probe is None:
            return self.get_response(request)
        return async_to_sync(probe)(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        probe = self._probe(request)
        if probe is None:
            response: HttpResponse = await self.get_response(request)
            return response
        return await probe(request)
