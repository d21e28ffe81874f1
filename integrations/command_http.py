"""One custom command's HTTP call: POST the form to its URL and read the answer, with a
time limit, no redirects, and the address rule of outgoing webhooks (no loopback,
private, link-local, metadata or other special addresses unless the host is in
CHAT_WEBHOOK_ALLOW_HOSTS). Blocking: callers run it in a worker thread, never on the
event loop nor the database thread.

The address rule is inline until chat/ops/egress.py (outgoing webhooks) lands; the
lead makes this module use it. The connection goes to the address that was checked,
so a DNS answer that changes between the check and the connect cannot swap it."""

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from django.conf import settings

MAX_ANSWER_BYTES = 256 * 1024  # as an incoming webhook's body


class CommandFailed(Exception):
    """The command's server could not be reached or did not answer in time; the text
    is shown to the caller (no internals: a host and what went wrong)."""


class CommandTimedOut(CommandFailed):
    """No answer within the time limit."""


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    content_type: str
    body: bytes


def _allowed_hosts() -> set[str]:
    return {host.lower() for host in getattr(settings, "CHAT_WEBHOOK_ALLOW_HOSTS", [])}


def address_check(host: str, port: int) -> str:
    """The address to connect to: the host resolved, and refused when it is not a
    public unicast address (unless the host is allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise CommandFailed(f"{host} cannot be resolved") from None
    allowed = host.lower() in _allowed_hosts()
    for info in infos:
        address = str(info[4][0])
        ip = ipaddress.ip_address(address.split("%")[0])
        if allowed or (ip.is_global and not (ip.is_multicast or ip.is_reserved)):
            return address
    raise CommandFailed(f"{host} is not a public address")


class _Pinned(http.client.HTTPConnection):
    """HTTP to one checked address, with the URL's host in the Host header."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    """HTTPS to one checked address, the certificate checked against the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def form_post(url: str, form: dict[str, str], *, timeout: float) -> HttpAnswer:
    """POST the form as Slack does (application/x-www-form-urlencoded); the answer, or
    CommandFailed. Redirects are not followed (a 3xx is an answer like any other)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CommandFailed("the command's URL is not http(s)")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = address_check(parts.hostname, port)
    kind = _PinnedTLS if parts.scheme == "https" else _Pinned
    conn = kind(parts.hostname, port, address, timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(
            "POST",
            path,
            body=urlencode(form).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json,*/*",
                "User-Agent": "chat-slash-command/1",
            },
        )
        response = conn.getresponse()
        body = response.read(MAX_ANSWER_BYTES + 1)
    except TimeoutError:
        raise CommandTimedOut(f"{parts.hostname} did not answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as error:
        raise CommandFailed(
            f"{parts.hostname} could not be reached ({type(error).__name__})"
        ) from None
    finally:
        conn.close()
    if len(body) > MAX_ANSWER_BYTES:
        raise CommandFailed(f"{parts.hostname} answered with more than {MAX_ANSWER_BYTES} bytes")
    return HttpAnswer(response.status, response.getheader("Content-Type", ""), body)
