"""A source's files for imported history (chat/services/importing.py re-exports it):
stored the way uploads are, before the rows that carry them are saved. Stores files
only: no message, no publish."""

import uuid
from typing import IO

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from chat.content import images
from chat.errors import ChatError
from chat.models import Attachment
from chat.services.files import content_type_clean, file_name_clean
from chat.services.posting import NewAttachment

# The first bytes of the formats chat.content.images decodes (as chat/services/files.py).
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


def attachment_store(
    room_id: int, name: str, stream: IO[bytes], content_type: str | None = None
) -> NewAttachment:
    """Store a source's file for a HistoryRow's `attachment`: an image we decode (within
    the image limits) as an image with its thumbnail, like an upload; anything else kept
    as it is, copied in chunks, under a name of the server's. `stream` must be seekable
    (a zip member is). No size limit: the operator imports what the history held."""
    head = stream.read(12)
    stream.seek(0)
    looks = head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    base = f"attachments/{room_id}/{uuid.uuid4().hex}"
    if looks:
        try:
            done = images.image_process(stream, name=name)
        except ChatError:
            stream.seek(0)  # not an image we show: kept as a file
        else:
            original, thumb = done.original, done.thumbnail
            file = default_storage.save(f"{base}.{original.extension}", ContentFile(original.data))
            small = default_storage.save(f"{base}-thumb.{thumb.extension}", ContentFile(thumb.data))
            return NewAttachment(
                kind=Attachment.Kind.IMAGE,
                file=file,
                thumbnail=small,
                name=done.name,
                content_type=original.content_type,
                size=len(original.data),
                width=original.width,
                height=original.height,
                thumbnail_width=thumb.width,
                thumbnail_height=thumb.height,
            )
    clean = file_name_clean(name)
    stored = default_storage.save(base, File(stream))
    return NewAttachment(
        kind=Attachment.Kind.FILE,
        file=stored,
        name=clean,
        content_type=content_type_clean(content_type, clean),
        size=default_storage.size(stored),
    )
