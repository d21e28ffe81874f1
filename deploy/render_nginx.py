#!/usr/bin/env python3
"""Fill in deploy/nginx/chat.conf's placeholders (ports and paths only) and print the site.

Standard library only, so it runs with the system's python3. The end-to-end test renders
the same file with this same function (tests/test_deploy_nginx.py).
"""

import argparse
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx" / "chat.conf"
_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")


def parse_ports(spec: str) -> list[int]:
    """'8001-8004' or '8001,8003' (or both mixed) -> the port numbers."""
    ports: list[int] = []
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        ports.extend(range(int(first), int(last or first) + 1))
    if not ports or any(not 0 < port < 65536 for port in ports):
        raise ValueError(f"bad port list {spec!r}")
    return ports


def render(
    *,
    server_name: str,
    upstream_ports: list[int],
    cert: str,
    key: str,
    static_root: str,
    acme_root: str = "/var/www/acme",
    http_port: int = 80,
    https_port: int = 443,
    upstream_host: str = "127.0.0.1",
    template: Path = TEMPLATE,
) -> str:
    """The site configuration with every placeholder filled in."""
    values = {
        "SERVER_NAME": server_name,
        "UPSTREAM_SERVERS": "\n".join(
            f"    server {upstream_host}:{port} max_fails=1 fail_timeout=2s;"
            for port in upstream_ports
        ),
        "TLS_CERT": cert,
        "TLS_KEY": key,
        "STATIC_ROOT": static_root.rstrip("/"),
        "ACME_ROOT": acme_root,
        "HTTP_PORT": str(http_port),
        "HTTPS_PORT": str(https_port),
    }

    def fill(match: re.Match[str]) -> str:
        return values[match[1]]

    return _PLACEHOLDER.sub(fill, template.read_text())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server-name", required=True, help="e.g. chat.example.com")
    parser.add_argument("--ports", default="8001-8004", help="daphne ports, e.g. 8001-8004")
    parser.add_argument("--cert", required=True, help="TLS certificate chain (PEM)")
    parser.add_argument("--key", required=True, help="TLS private key (PEM)")
    parser.add_argument("--static-root", required=True, help="DJANGO_STATIC_ROOT")
    parser.add_argument("--acme-root", default="/var/www/acme")
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument("--https-port", type=int, default=443)
    args = parser.parse_args(argv)
    sys.stdout.write(
        render(
            server_name=args.server_name,
            upstream_ports=parse_ports(args.ports),
            cert=args.cert,
            key=args.key,
            static_root=args.static_root,
            acme_root=args.acme_root,
            http_port=args.http_port,
            https_port=args.https_port,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
