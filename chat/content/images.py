"""Image uploads: decode with Pillow, enforce the size, pixel and format limits, strip
metadata by re-encoding, and make a thumbnail. Pure bytes in, bytes out: no database
and no storage (services store the result)."""

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from chat.errors import ChatError
from chat.protocol.codes import ErrorCode

# Pillow format -> (content type, file extension). Anything else (SVG, which can carry
# script; TIFF, BMP, ICO, PSD...) is refused, whatever the file is called.
ALLOWED_FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
MAX_FRAMES = 500  # an animation with more frames is refused (decoding cost)
MAX_NAME_CHARS = 100


@dataclass(frozen=True)
class Rendition:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


@dataclass(frozen=True)
class ProcessedImage:
    """A validated image, re-encoded without metadata, and its thumbnail."""

    name: str  # sanitized, with the extension of the real format
    original: Rendition
    thumbnail: Rendition


class ImageTooLarge(ChatError):
    """Over CHAT_IMAGE_MAX_BYTES (an HTTP 413)."""


def image_too_large() -> ImageTooLarge:
    limit = settings.CHAT_IMAGE_MAX_BYTES
    return ImageTooLarge(ErrorCode.FILE_TOO_LARGE, f"An image can have at most {limit} bytes.")


def filename_clean(name: str, extension: str) -> str:
    """A file name safe in a Content-Disposition header and on any disk: ASCII letters,
    digits, dots, dashes and underscores, with the extension of the decoded format (the
    client's extension is never trusted)."""
    stem = name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1].rsplit(".", 1)[0]
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:MAX_NAME_CHARS] or "image"
    return f"{stem}.{extension}"


def image_process(upload: IO[bytes], *, name: str) -> ProcessedImage:
    """Validate and re-encode an uploaded image, or raise ChatError (`bad_image`,
    `unsupported_image`, `image_too_large_pixels`, `file_too_large`)."""
    data = upload.read(settings.CHAT_IMAGE_MAX_BYTES + 1)
    if len(data) > settings.CHAT_IMAGE_MAX_BYTES:
        raise image_too_large()
    max_pixels = settings.CHAT_IMAGE_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            # Pillow warns (then raises) on decompression bombs past its own global
            # limit; our limit is checked from the header below, before any decoding.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            image_format = probe.format or ""
            if image_format not in ALLOWED_FORMATS:
                raise ChatError(
                    ErrorCode.UNSUPPORTED_IMAGE, "Only JPEG, PNG, GIF and WebP images are accepted."
                )
            width, height = probe.size
            frames = int(getattr(probe, "n_frames", 1))
            if width * height > max_pixels or frames > MAX_FRAMES:
                raise ChatError(
                    ErrorCode.IMAGE_TOO_LARGE_PIXELS,
                    f"An image can have at most {max_pixels} pixels and {MAX_FRAMES} frames.",
                )
            probe.verify()  # structure and checksums; the image is unusable afterwards
            image = Image.open(io.BytesIO(data))
            image.load()  # a truncated or corrupt body fails here, not later
            original = _reencode(image, image_format)
            thumbnail = _thumbnail(image)
    except ChatError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ChatError(
            ErrorCode.BAD_IMAGE, "The file is not an image this server can read."
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError):
        # Pillow reports damaged files with any of these.
        raise ChatError(
            ErrorCode.BAD_IMAGE, "The file is not an image this server can read."
        ) from None
    if len(original.data) > settings.CHAT_IMAGE_MAX_BYTES:
        raise image_too_large()
    return ProcessedImage(
        name=filename_clean(name, original.extension), original=original, thumbnail=thumbnail
    )


def _reencode(image: Image.Image, image_format: str) -> Rendition:
    """The image saved afresh: pixels only, without EXIF (GPS, camera), XMP, ICC
    comments or anything appended after the image data."""
    content_type, extension = ALLOWED_FORMATS[image_format]
    out = io.BytesIO()
    frames = int(getattr(image, "n_frames", 1))
    if frames > 1:  # animated GIF or WebP: keep the animation, drop the metadata
        image.save(
            out,
            format=image_format,
            save_all=True,
            loop=image.info.get("loop", 0),
            duration=image.info.get("duration", 100),
            exif=b"",
        )
        width, height = image.size
    else:
        # The EXIF orientation is applied to the pixels, as it would be lost with the EXIF.
        upright = ImageOps.exif_transpose(image)
        if image_format == "JPEG" and upright.mode not in ("RGB", "L"):
            upright = upright.convert("RGB")
        options: dict[str, object] = {"quality": 90} if image_format in ("JPEG", "WEBP") else {}
        upright.save(out, format=image_format, **options)
        width, height = upright.size
    return Rendition(out.getvalue(), content_type, extension, width, height)


def _thumbnail(image: Image.Image) -> Rendition:
    image.seek(0)
    upright = ImageOps.exif_transpose(image)
    side = settings.CHAT_THUMBNAIL_MAX_SIDE
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    small = upright.convert("RGBA" if has_alpha else "RGB")
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if has_alpha:
        small.save(out, format="PNG", optimize=True)
        return Rendition(out.getvalue(), "image/png", "png", *small.size)
    small.save(out, format="JPEG", quality=80)
    return Rendition(out.getvalue(), "image/jpeg", "jpg", *small.size)
