"""Uploads as they stream in: a Django upload handler that stops a file past the size
limit while it is being received, before it is whole on disk or in memory. No storage,
no models: the view asks `too_large(request)` and answers 413."""

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

_FLAG = "_chat_upload_too_large"


def upload_max_bytes() -> int:
    """The largest file any endpoint takes (each view then applies its own limit)."""
    return max(settings.CHAT_FILE_MAX_BYTES, settings.CHAT_IMAGE_MAX_BYTES)


def too_large(request: HttpRequest) -> bool:
    """Whether an upload of this request was stopped for its size."""
    return bool(getattr(request, _FLAG, False))


class SizeLimitUploadHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: counts each file's bytes and stops the whole upload
    once one passes upload_max_bytes(). The handlers after it (memory, temporary file)
    never see the rest; their partial file is closed (a temporary file is deleted)."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > upload_max_bytes():
            if self.request is not None:
                setattr(self.request, _FLAG, True)
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> Any:
        return None  # the next handler makes the file
