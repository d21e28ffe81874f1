"""Prints a new VAPID key pair (RFC 8292) as environment lines. Generates only: it
never reads or writes settings, so an existing pair is not replaced by accident."""

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management.base import BaseCommand

from notify.subscriptions import b64url_encode


def vapid_key_pair() -> tuple[str, str]:
    """(public, private), base64url without padding: the public key as the browser's
    applicationServerKey wants it (an uncompressed P-256 point, 65 bytes), the private
    one as py_vapid reads it (the raw 32-byte scalar)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return b64url_encode(public), b64url_encode(private)


class Command(BaseCommand):
    help = (
        "Print a new VAPID key pair for Web Push as CHAT_VAPID_PUBLIC_KEY= and "
        "CHAT_VAPID_PRIVATE_KEY= lines for the environment file. Changing the pair "
        "later ends every existing push subscription (browsers subscribe again)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        public, private = vapid_key_pair()
        self.stdout.write(f"CHAT_VAPID_PUBLIC_KEY={public}\nCHAT_VAPID_PRIVATE_KEY={private}\n")
