"""Requests the server makes to addresses users typed (outgoing webhooks, Web Push
endpoints, custom commands): the one rule for where they may go, and a connection that
goes exactly where the rule looked. No Django models, no retries, no logging of URLs'
paths (they may hold secrets).

The rule: the host is resolved here, every address it resolves to is checked, and the
connection is made to the checked address (so a second DNS answer — rebinding — cannot
swap in 127.0.0.1 between the check and the connect). Loopback, private, shared
(carrier-grade NAT), link-local (cloud metadata lives there), unspecified, multicast and
reserved addresses are refused unless the host is listed in an allow list (a receiver on
the local network, the tests' stand-in).
"""

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Besides what ipaddress classifies: metadata services not in the ranges above
# (AWS's IPv6 one; Alibaba's 100.100.100.200 is in 100.64.0.0/10, refused as shared).
_METADATA = (
    ipaddress.ip_network("fd00:ec2::254/128"),
    ipaddress.ip_network("100.64.0.0/10"),
)


class EgressRefused(Exception):
    """The URL may not be requested; `reason` is safe to show to the hook's owner."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def address_problem(address: IPAddress) -> str | None:
    """Why a request must not go to this address, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_problem(address.ipv4_mapped)
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local (cloud metadata)"),
        (address.is_multicast, "multicast"),
        (any(address in net for net in _METADATA if net.version == address.version), "metadata"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "not public"),
    )
    for refused, what in checks:
        if refused:
            return f"{address} is a {what} address"
    return None


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str  # "http" or "https"
    host: str  # as named in the URL (the TLS name and the Host header)
    port: int
    path: str  # path and query, never empty
    address: str  # the checked address to connect to


def url_target(url: str, allow_hosts: Iterable[str]) -> Target:
    """Where a request to `url` may connect, resolved and checked; EgressRefused if nowhere.
    Blocking (DNS): never call it on an event loop."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise EgressRefused("not a valid URL") from None
    if parts.scheme not in {"http", "https"}:
        raise EgressRefused("only http and https URLs")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise EgressRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise EgressRefused("the URL must not carry credentials")
    allowed = host in {h.lower().rstrip(".") for h in allow_hosts}
    addresses = host_resolve(host, port)
    if not allowed:
        for address in addresses:
            problem = address_problem(address)
            if problem is not None:
                # Every answer is checked, not only the first: a name that resolves to one
                # public and one private address must not get a second chance at the other.
                raise EgressRefused(problem if problem.startswith(host) else f"{host}: {problem}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, str(addresses[0]))


def host_resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise EgressRefused(f"{host} does not resolve") from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    if not found:
        raise EgressRefused(f"{host} does not resolve")
    return found


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the checked address, whatever DNS says now."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """The checked address, with the certificate verified for the URL's host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._address = target.address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str
    body: bytes  # at most max_bytes
    latency_ms: int


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    max_bytes: int,
) -> Answer:
    """POST to a checked target; redirects are answers like any other (never followed:
    they could lead anywhere). Raises OSError (timeouts, refused connections, TLS) and
    http.client.HTTPException; the whole exchange is bounded by `timeout` seconds."""
    started = time.monotonic()
    deadline = started + timeout
    conn: http.client.HTTPConnection = (
        _PinnedHTTPS(target, timeout) if target.scheme == "https" else _PinnedHTTP(target, timeout)
    )
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        if conn.sock is not None:  # the connect and the send took part of the time
            conn.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        response = conn.getresponse()
        chunks: list[bytes] = []
        size = 0
        while size < max_bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the answer took too long")
            if conn.sock is not None:
                conn.sock.settimeout(left)
            chunk = response.read1(min(65536, max_bytes - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return Answer(
            response.status,
            response.getheader("Content-Type", "") or "",
            b"".join(chunks),
            int((time.monotonic() - started) * 1000),
        )
    finally:
        conn.close()
