"""Metrics (Prometheus) and structured event logs: one call per event from the transport
layer, services and the channel-layer helpers. Records only; never decides or blocks.

Metrics are correct with several processes on one host when PROMETHEUS_MULTIPROC_DIR is
set (prometheus_client's multiprocess mode: each process writes its values to mmapped
files there, and whichever process answers /metrics sums them all). Without it, each
process reports its own values, which is right for a single process. Nothing happens at
import: setup() makes the metrics (and their files) once per process, at start.

Log lines carry who, where and from which address, never a message body or a secret:
`ws.connect`, `ws.refuse`, `ws.disconnect` (close code and seconds open), `ws.error`
(error code) and `moderation` (staff action); with CHAT_LOG_FORMAT=json each is one JSON
object with those fields (settings.LOGGING).
"""

import atexit
import contextlib
import fcntl
import logging
import os
import re
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chat.protocol import parsing
from chat.protocol.codes import ErrorCode, FrameType

logger = logging.getLogger("chat.events")

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# prometheus_client names its files <kind>_<pid>.db or gauge_<mode>_<pid>.db.
_DB_FILE = re.compile(r"^(?P<kind>[a-z_]+?)_(?P<pid>\d+)\.db$")
_LIVE_GAUGE_PREFIX = "gauge_live"

# Seconds: a chat frame is handled in milliseconds; a slow database shows as the tail.
LATENCY_BUCKETS_SECONDS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


def _multiproc_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_DIR_ENV, "")
    return Path(value) if value else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _file_pids(directory: Path, prefix: str = "") -> set[int]:
    pids: set[int] = set()
    for entry in directory.iterdir():
        match = _DB_FILE.match(entry.name)
        if match and entry.name.startswith(prefix):
            pids.add(int(match["pid"]))
    return pids


def live_pids() -> list[int]:
    """The processes of this host that write metrics (only this one without the dir)."""
    directory = _multiproc_dir()
    if directory is None:
        return [os.getpid()]
    return sorted(pid for pid in _file_pids(directory, _LIVE_GAUGE_PREFIX) if _pid_alive(pid))


@contextlib.contextmanager
def _claimed_dir() -> Iterator[None]:
    """Hold the directory's lock while this process creates its files. The first process
    to start when no other is alive wipes what earlier runs left: counters of processes
    that exited are kept while a sibling runs (so a rolling restart does not reset the
    host's totals), but a fresh start of the whole group begins at zero and the directory
    does not grow for ever. The lock stops two processes starting together from wiping
    each other's new files."""
    directory = _multiproc_dir()
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    lock: IO[str]
    with (directory / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            others = {pid for pid in _file_pids(directory) if pid != os.getpid()}
            if not any(_pid_alive(pid) for pid in others):
                for entry in directory.glob("*.db"):
                    entry.unlink(missing_ok=True)
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# Made by setup(), not at import: in multiprocess mode making a metric creates its file.
CONNECTIONS_OPEN: Gauge
CONNECTS: Counter
REFUSALS: Counter
DISCONNECTS: Counter
FRAMES_RECEIVED: Counter
MESSAGES_RECEIVED: Counter
MESSAGES_DELIVERED: Counter
CATCH_UPS: Counter
ERRORS: Counter
RATE_LIMIT_HITS: Counter
LAYER_FAILURES: Counter
MODERATION_ACTIONS: Counter
HANDLING_SECONDS: Histogram

_set_up = False


def setup() -> None:
    """Make this process's metrics and have its live gauge forgotten at exit. Once per
    process, at start (ChatConfig.ready: every process that serves or records metrics
    sets Django up first); a later call does nothing. In multiprocess mode this claims
    the directory and may wipe what an earlier run left there (_claimed_dir)."""
    global _set_up
    global CONNECTIONS_OPEN, CONNECTS, REFUSALS, DISCONNECTS, FRAMES_RECEIVED, MESSAGES_RECEIVED
    global MESSAGES_DELIVERED, CATCH_UPS, ERRORS, RATE_LIMIT_HITS, LAYER_FAILURES
    global MODERATION_ACTIONS, HANDLING_SECONDS
    if _set_up:
        return
    with _claimed_dir():
        # The open-connections gauge has no labels, so its file (the marker that this process
        # is alive, see live_pids) exists from here on.
        CONNECTIONS_OPEN = Gauge(
            "chat_ws_connections_open",
            "Chat WebSocket connections open now (accepted, not yet closed).",
            multiprocess_mode="livesum",
        )
        CONNECTS = Counter("chat_ws_connects", "Chat WebSocket connections accepted.")
        REFUSALS = Counter(
            "chat_ws_refusals",
            "Chat WebSocket connections refused, by the close code sent (docs/protocol.md).",
            ["code"],
        )
        DISCONNECTS = Counter(
            "chat_ws_disconnects",
            "Accepted chat WebSocket connections closed, by close code (1006: dropped).",
            ["code"],
        )
        FRAMES_RECEIVED = Counter("chat_ws_frames_received", "Client frames received.")
        MESSAGES_RECEIVED = Counter(
            "chat_messages_received", "message.send frames saved and acknowledged."
        )
        MESSAGES_DELIVERED = Counter(
            "chat_messages_delivered",
            "Live message events handed to this host's connections by the delivery hubs.",
        )
        CATCH_UPS = Counter(
            "chat_catch_ups",
            "Connections brought up to date from the database because live events were late "
            "or lost (a channel-layer problem when it keeps rising).",
        )
        ERRORS = Counter("chat_errors", "Error frames sent to clients, by error code.", ["code"])
        RATE_LIMIT_HITS = Counter(
            "chat_rate_limit_hits",
            "Actions refused by an abuse limit (chat/limits/policy.py), by limit.",
            ["limit"],
        )
        LAYER_FAILURES = Counter(
            "chat_channel_layer_failures",
            "Channel-layer operations that failed (publish, receive), by operation.",
            ["operation"],
        )
        MODERATION_ACTIONS = Counter(
            "chat_moderation_actions", "Moderation actions recorded, by action.", ["action"]
        )
        HANDLING_SECONDS = Histogram(
            "chat_frame_handling_seconds",
            "Time from a client frame's arrival to its answer (message.send: saved and "
            "acknowledged), by frame type; frames answered with an error are not included.",
            ["type"],
            buckets=LATENCY_BUCKETS_SECONDS,
        )
    atexit.register(_forget_this_process)
    _set_up = True


def _mark_dead(pid: int) -> None:
    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]  # untyped upstream


def _forget_this_process() -> None:
    # A process that exits normally takes its open-connections gauge with it at once; a
    # killed one is pruned at the next scrape (prune_dead_processes).
    if _multiproc_dir() is not None:
        _mark_dead(os.getpid())


def prune_dead_processes() -> None:
    """Drop the live gauges of processes that died without cleaning up (SIGKILL, a
    crash), so chat_ws_connections_open counts live processes only."""
    directory = _multiproc_dir()
    if directory is None:
        return
    for pid in _file_pids(directory, _LIVE_GAUGE_PREFIX):
        if not _pid_alive(pid):
            _mark_dead(pid)


class _MemoryCollector(Collector):
    """Resident memory of every live chat process on the host, read from /proc at scrape
    time (a long-running socket server is watched for leaks)."""

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "chat_process_resident_memory_bytes",
            "Resident memory (VmRSS) of each chat process on this host.",
            labels=["pid"],
        )
        for pid in live_pids():
            rss = resident_memory_bytes(pid)
            if rss is not None:
                family.add_metric([str(pid)], rss)
        yield family


def resident_memory_bytes(pid: int) -> int | None:
    """VmRSS of a process in bytes, or None when it is gone (or not Linux)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(match[1]) * 1024 if match else None


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition of this host's chat processes."""
    registry: CollectorRegistry
    if _multiproc_dir() is not None:
        prune_dead_processes()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_MEMORY_REGISTRY), CONTENT_TYPE_LATEST


_MEMORY_REGISTRY = CollectorRegistry()
_MEMORY_REGISTRY.register(_MemoryCollector())


# --- hooks ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Connection:
    user: str
    room: str
    ip: str | None
    opened_at: float


_open: "weakref.WeakKeyDictionary[object, _Connection]" = weakref.WeakKeyDictionary()


def _event(level: int, event: str, **fields: object) -> None:
    # The message repeats the fields as key=value for the plain format; the JSON
    # formatter writes them as fields of their own (the `extra` dict).
    if logger.isEnabledFor(level):
        text = " ".join(f"{key}={value}" for key, value in fields.items())
        logger.log(level, "%s %s", event, text, extra={"event": event, **fields})


def connection_opened(conn: object, *, user: str, room: str, ip: str | None) -> None:
    """A chat connection was accepted (call once, after accept)."""
    _open[conn] = _Connection(user=user, room=room, ip=ip, opened_at=time.monotonic())
    CONNECTS.inc()
    CONNECTIONS_OPEN.inc()
    _event(logging.INFO, "ws.connect", user=user, room=room, ip=ip)


def connection_refused(scope: dict[str, object], code: int, ip: str | None) -> None:
    """A chat connection was refused with `code` (accepted only to send the code)."""
    REFUSALS.labels(code=str(code)).inc()
    user = scope.get("user")
    username = getattr(user, "username", "") if getattr(user, "is_authenticated", False) else ""
    route = scope.get("url_route")
    kwargs = route.get("kwargs", {}) if isinstance(route, dict) else {}
    _event(
        logging.INFO, "ws.refuse", user=username or None, room=kwargs.get("slug"), ip=ip, code=code
    )


def connection_closed(conn: object, code: int | None) -> None:
    """A connection's disconnect arrived; only accepted ones are counted and logged."""
    opened = _open.pop(conn, None)
    if opened is None:
        return
    CONNECTIONS_OPEN.dec()
    code_text = str(code if code is not None else 1005)  # 1005: no code was received
    DISCONNECTS.labels(code=code_text).inc()
    _event(
        logging.INFO,
        "ws.disconnect",
        user=opened.user,
        room=opened.room,
        ip=opened.ip,
        code=int(code_text),
        duration_s=round(time.monotonic() - opened.opened_at, 3),
    )


def frame_received() -> float:
    """Count a client frame; returns its arrival time for frame_handled."""
    FRAMES_RECEIVED.inc()
    return time.perf_counter()


_COMMANDS = get_args(parsing.Command)


def frame_handled(command: object, received_at: float) -> None:
    """A frame was answered (message.send: saved and acknowledged)."""
    # Every client frame type by its name (chat/protocol/codes.py FrameType); "other" is
    # left for anything that is not a parsed command.
    kind = parsing.frame_type(command) if isinstance(command, _COMMANDS) else "other"
    HANDLING_SECONDS.labels(type=kind).observe(time.perf_counter() - received_at)
    if kind == FrameType.MESSAGE_SEND:
        MESSAGES_RECEIVED.inc()


def error_sent(conn: object, code: str) -> None:
    """An error frame with `code` went to a client (never its detail: it may quote input)."""
    ERRORS.labels(code=code).inc()
    opened = _open.get(conn)
    _event(
        logging.ERROR if code == ErrorCode.INTERNAL_ERROR else logging.INFO,
        "ws.error",
        user=opened.user if opened else None,
        room=opened.room if opened else None,
        ip=opened.ip if opened else None,
        code=code,
    )


def rate_limited(limit: str) -> None:
    """An abuse limit refused something: message, flood, connect_attempts, connections."""
    RATE_LIMIT_HITS.labels(limit=limit).inc()


def messages_delivered(count: int) -> None:
    if count:
        MESSAGES_DELIVERED.inc(count)


def caught_up(count: int) -> None:
    if count:
        CATCH_UPS.inc(count)


def layer_failed(operation: str) -> None:
    LAYER_FAILURES.labels(operation=operation).inc()


def moderation_recorded(
    *, actor: str | None, action: str, target: str, ip: str | None = None, security: bool = False
) -> None:
    """An audit log entry was written: event "moderation", or a security event's own name
    ("login.failure", ...). The reason stays in the audit log (it may quote a message)."""
    MODERATION_ACTIONS.labels(action=action).inc()
    event = action if security else "moderation"
    _event(logging.INFO, event, user=actor, action=action, target=target, ip=ip)
