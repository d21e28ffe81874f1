"""Avatar images: an upload validated by chat/content/images.py (decoded, pixel limit before
decoding, re-encoded without metadata) and cut to a small square; and the default
avatar, the user's initials on a colour of their own, as SVG. Pure: bytes in, bytes
out; no database, no storage."""

import hashlib
import io
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.utils.html import escape
from PIL import Image, ImageOps

from chat.content import images

# Backgrounds with enough contrast for white initials (WCAG AA for large text).
PALETTE = (
    "#1f6feb",
    "#8250df",
    "#bf3989",
    "#cf222e",
    "#bc4c00",
    "#9a6700",
    "#1a7f37",
    "#0a7b83",
    "#57606a",
    "#6e40c9",
)


@dataclass(frozen=True)
class AvatarImage:
    data: bytes
    content_type: str
    extension: str


def avatar_process(upload: IO[bytes], *, name: str) -> AvatarImage:
    """A CHAT_AVATAR_SIDE-pixel square from an uploaded image, or ChatError (the image
    codes of chat/content/images.py: bad_image, unsupported_image, image_too_large_pixels,
    file_too_large). An animation keeps its first frame."""
    processed = images.image_process(upload, name=name)
    # The re-encoded original: already decoded once, within the limits, without EXIF.
    image = Image.open(io.BytesIO(processed.original.data))
    image.seek(0)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    side = settings.CHAT_AVATAR_SIDE
    square = ImageOps.fit(
        image.convert("RGBA" if has_alpha else "RGB"), (side, side), Image.Resampling.LANCZOS
    )
    out = io.BytesIO()
    if has_alpha:
        square.save(out, format="PNG", optimize=True)
        return AvatarImage(out.getvalue(), "image/png", "png")
    square.save(out, format="JPEG", quality=85)
    return AvatarImage(out.getvalue(), "image/jpeg", "jpg")


def initials(name: str) -> str:
    """One or two letters for a name: the first letters of its first two words, or the
    first two letters of a single word."""
    words = [word for word in name.replace("_", " ").replace(".", " ").split() if word]
    if not words:
        return "?"
    if len(words) == 1:
        letters = [c for c in words[0] if c.isalnum()][:2] or ["?"]
        return "".join(letters).upper()
    return "".join(word[0] for word in words[:2]).upper()


def colour(username: str) -> str:
    """A background colour that stays the user's whatever name they show."""
    digest = hashlib.sha256(username.encode()).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def default_svg(*, username: str, display_name: str) -> str:
    """The initials avatar. The letters come from user input: escaped for XML."""
    letters = escape(initials(display_name or username))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" '
        'viewBox="0 0 128 128" role="img">'
        f'<rect width="128" height="128" rx="64" fill="{colour(username)}"/>'
        '<text x="64" y="64" dy=".35em" text-anchor="middle" fill="#fff" '
        "font-family=\"system-ui, -apple-system, 'Segoe UI', sans-serif\" "
        f'font-size="52" font-weight="600">{letters}</text></svg>'
    )
