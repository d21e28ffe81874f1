"""Files posted as messages: images take the image path (decoded, re-encoded, a
thumbnail); any other file is kept as sent under a name of the server's and is only
ever served as a download. The upload is already on disk or in memory in bounded
chunks (chat/content/uploads.py); storing it moves or copies it in chunks, never whole in
memory."""

import logging
import mimetypes
import re
import unicodedata
import uuid
from collections.abc import Callable
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from chat.content import images
from chat.errors import ChatError
from chat.models import Attachment
from chat.protocol.codes import ErrorCode
from chat.selectors import MessageOut
from chat.services.access import access_require_write
from chat.services.messages import message_body_clean
from chat.services.posting import (
    NewAttachment,
    SendRequest,
    message_by_client_id,
    message_post_one,
)
from chat.services.threads import BAD_THREAD, roots_check

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = Attachment._meta.get_field("name").max_length or 120
MAX_CONTENT_TYPE_CHARS = Attachment._meta.get_field("content_type").max_length or 100
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
# The formats chat.content.images decodes, told by their first bytes (never by name or type).
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


def file_too_large() -> ChatError:
    limit = settings.CHAT_FILE_MAX_BYTES
    return ChatError(ErrorCode.FILE_TOO_LARGE, f"A file can have at most {limit} bytes.")


def file_name_clean(name: str) -> str:
    """The original name, fit to show and to offer as a download name: the last path
    part, without control, format (bidi overrides) or unassigned characters, no leading
    dots, at most MAX_NAME_CHARS (the extension kept). Never used to store the file."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(c for c in name if not unicodedata.category(c).startswith("C"))
    name = " ".join(name.split()).lstrip(".").strip()
    if len(name) > MAX_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: MAX_NAME_CHARS - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_NAME_CHARS]
    return name or "file"


def content_type_clean(declared: str | None, name: str) -> str:
    """What the client declared when it is a well-formed type, else a guess from the
    name. Recorded for clients to show; the file is served as a download whatever it is."""
    found = (declared or "").split(";", 1)[0].strip().lower()
    if len(found) <= MAX_CONTENT_TYPE_CHARS and _CONTENT_TYPE.fullmatch(found):
        return found
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _looks_like_image(upload: UploadedFile[bytes]) -> bool:
    upload.seek(0)
    head = bytes(upload.read(12))
    upload.seek(0)
    return head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


Post = Callable[[SendRequest], MessageOut]


def message_post_file(
    *,
    room_id: int,
    author: User,
    upload: UploadedFile[bytes],
    body: str,
    client_id: str,
    thread: int | None = None,
    also_to_room: bool = False,
    post: Post = message_post_one,
) -> MessageOut:
    """Post any file (with an optional caption) as a message, saved through `post` (the
    one write path: directly, or the caller's process's group commit). An image we can
    decode (and within the image limits) becomes an image message; anything else a
    download; with `thread`, a reply in that thread (shown in the room too with
    `also_to_room`). The stored file is removed again if the message is not saved with it."""
    existing = _resend_or_checked(
        room_id=room_id, author=author, body=body, client_id=client_id, thread=thread
    )
    if existing is not None:
        return existing  # a resend: not stored again
    size = upload.size or 0
    if size > settings.CHAT_FILE_MAX_BYTES:
        raise file_too_large()
    original = upload.name or "file"
    if size <= settings.CHAT_IMAGE_MAX_BYTES and _looks_like_image(upload):
        try:
            return message_post_image(
                room_id=room_id,
                author=author,
                upload=upload,
                name=original,
                body=body,
                client_id=client_id,
                thread=thread,
                also_to_room=also_to_room,
                post=post,
            )
        except ChatError as error:
            if error.code not in ("bad_image", "unsupported_image", "image_too_large_pixels"):
                raise
            upload.seek(0)  # not an image we show: kept as a file like any other
    name = file_name_clean(original)
    upload.seek(0)
    # No extension, no part of the user's name: nothing about the stored file is theirs.
    stored = default_storage.save(f"attachments/{room_id}/{uuid.uuid4().hex}", upload)
    attachment = NewAttachment(
        kind=Attachment.Kind.FILE,
        file=stored,
        name=name,
        content_type=content_type_clean(upload.content_type, name),
        size=default_storage.size(stored),
    )
    request = SendRequest(
        room_id=room_id,
        author=author,
        body=body,
        client_id=client_id,
        attachment=attachment,
        thread=thread,
        also_to_room=also_to_room,
    )
    return _post_with(post, request, attachment)


def message_post_image(
    *,
    room_id: int,
    author: User,
    upload: IO[bytes],
    name: str,
    body: str,
    client_id: str,
    thread: int | None = None,
    also_to_room: bool = False,
    post: Post = message_post_one,
) -> MessageOut:
    """Post an image (with an optional caption) as a message: the one write path's rules
    plus images.image_process's checks; `thread` and `also_to_room` as for a file. The
    files are stored before the transaction and removed again if the message is not
    saved with them."""
    existing = _resend_or_checked(
        room_id=room_id, author=author, body=body, client_id=client_id, thread=thread
    )
    if existing is not None:
        return existing  # a resend: not decoded or stored again
    processed = images.image_process(upload, name=name)
    original, thumbnail = processed.original, processed.thumbnail
    base = f"attachments/{room_id}/{uuid.uuid4().hex}"
    file = default_storage.save(f"{base}.{original.extension}", ContentFile(original.data))
    thumb = default_storage.save(f"{base}-thumb.{thumbnail.extension}", ContentFile(thumbnail.data))
    attachment = NewAttachment(
        kind=Attachment.Kind.IMAGE,
        file=file,
        thumbnail=thumb,
        name=processed.name,
        content_type=original.content_type,
        size=len(original.data),
        width=original.width,
        height=original.height,
        thumbnail_width=thumbnail.width,
        thumbnail_height=thumbnail.height,
    )
    request = SendRequest(
        room_id=room_id,
        author=author,
        body=body,
        client_id=client_id,
        attachment=attachment,
        thread=thread,
        also_to_room=also_to_room,
    )
    return _post_with(post, request, attachment)


def _resend_or_checked(
    *, room_id: int, author: User, body: str, client_id: str, thread: int | None
) -> MessageOut | None:
    """Before anything is stored: the message of a resend, or None once the send would
    be allowed (ChatError otherwise), so a refused upload never touches storage. The
    write path checks the root again (it may be deleted meanwhile): then _post_with's
    cleanup removes what was stored."""
    message_body_clean(body, allow_empty=True)
    access_require_write(room_id=room_id, user=author)
    existing = message_by_client_id(room_id=room_id, author=author, client_id=client_id)
    if existing is None and thread is not None and not roots_check({thread: room_id}):
        raise ChatError(ErrorCode.BAD_THREAD, BAD_THREAD)
    return existing


def _post_with(post: Post, request: SendRequest, attachment: NewAttachment) -> MessageOut:
    try:
        return post(request)
    finally:
        # Refused, failed, or a resend that raced in and answered with its own file.
        if not Attachment.objects.filter(file=attachment.file).exists():
            for stored in filter(None, (attachment.file, attachment.thumbnail)):
                try:
                    default_storage.delete(stored)
                except Exception:
                    logger.exception("could not remove orphan upload %s", stored)


def attachment_files(message_ids: list[int]) -> list[str]:
    """The stored names (file and thumbnail) of these messages' attachments."""
    rows = Attachment.objects.filter(message_id__in=message_ids).values_list("file", "thumbnail")
    return [name for file, thumb in rows for name in (file, thumb) if name]


def stored_files_delete_on_commit(names: list[str]) -> None:
    """Remove these stored files once the current transaction commits: a rollback keeps
    them, and a file nothing can name any more is never left behind (retention, erasure).
    A file that cannot be removed is logged; its row is gone anyway."""

    def delete() -> None:
        for name in names:
            try:
                default_storage.delete(name)
            except OSError:
                logger.warning("could not delete stored file %s", name)

    if names:
        transaction.on_commit(delete)
