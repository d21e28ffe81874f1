"""Reading a Slack export zip with bounded memory: the archive is opened, never read
whole, and each JSON file is parsed one array element at a time. Pure (no Django).

The layout (Slack's standard export): users.json, channels.json (public), groups.json
(private), dms.json, mpims.json (group DMs), and one folder per conversation (a channel
or group's name, a DM's id, a group DM's name) of YYYY-MM-DD.json message arrays. Files,
when the export holds them, are at __uploads/<file id>/<name> (the layout of
slack-advanced-exporter's fetch-attachments).
"""

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

CHUNK_CHARS = 1 << 16
_DAY = re.compile(r"^(?P<folder>[^/]+)/(?P<day>\d{4}-\d{2}-\d{2})\.json$")
_SPACE = " \t\r\n"


class ArchiveError(Exception):
    """The file is not a Slack export this reader understands."""


def json_array_items(stream: IO[bytes]) -> Iterator[Any]:
    """The elements of the JSON array in `stream`, one at a time: memory holds one
    element and a read buffer, whatever the file's size."""
    decoder = json.JSONDecoder()
    text = _Text(stream)
    text.skip_space()
    if text.take(1) != "[":
        raise ArchiveError("expected a JSON array")
    text.skip_space()
    if text.peek() == "]":
        return
    while True:
        yield text.decode(decoder)
        text.skip_space()
        mark = text.take(1)
        if mark == "]":
            return
        if mark != ",":
            raise ArchiveError("expected ',' or ']' in a JSON array")
        text.skip_space()


class _Text:
    """A growing window of decoded text over a byte stream."""

    def __init__(self, stream: IO[bytes]) -> None:
        import codecs

        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._buf = ""
        self._pos = 0
        self._eof = False

    def _more(self) -> bool:
        if self._eof:
            return False
        chunk = self._stream.read(CHUNK_CHARS)
        if not chunk:
            self._eof = True
            self._buf = self._buf[self._pos :] + self._decoder.decode(b"", final=True)
        else:
            self._buf = self._buf[self._pos :] + self._decoder.decode(chunk)
        self._pos = 0
        return True

    def skip_space(self) -> None:
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in _SPACE:
                self._pos += 1
            if self._pos < len(self._buf) or not self._more():
                return

    def peek(self) -> str:
        if self._pos >= len(self._buf):
            self._more()
        return self._buf[self._pos : self._pos + 1]

    def take(self, n: int) -> str:
        out = self.peek()[:n]
        self._pos += len(out)
        return out

    def decode(self, decoder: json.JSONDecoder) -> Any:
        # An element cut by the buffer's end fails to decode: read more and retry. The
        # element itself is complete JSON (an object or array) so a cut one never
        # decodes early; the retry costs O(element) per chunk, bounded by doubling.
        want = CHUNK_CHARS
        while True:
            try:
                value, end = decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as error:
                if self._eof:
                    raise ArchiveError(f"bad JSON: {error}") from None
                while len(self._buf) - self._pos < want and self._more():
                    pass
                want *= 2
                continue
            if end == len(self._buf) and not self._eof and not isinstance(value, dict | list):
                self._more()  # a number at the buffer's end may go on
                continue
            self._pos = end
            return value


@dataclass(frozen=True, slots=True)
class DayFile:
    folder: str
    day: str  # YYYY-MM-DD
    name: str  # the member's path in the zip
    size: int  # uncompressed bytes: the progress bar's unit


class SlackArchive:
    """An open Slack export. Use as a context manager."""

    def __init__(self, path: str) -> None:
        try:
            self._zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as error:
            raise ArchiveError(f"{path}: not a zip file ({error})") from None
        names = self._zip.namelist()
        # An export zipped with its folder ("export/users.json") is read the same.
        prefix = ""
        if "users.json" not in names:
            tops = {n.split("/", 1)[0] + "/" for n in names if n.endswith("/users.json")}
            if len(tops) != 1:
                raise ArchiveError(f"{path}: no users.json: not a Slack export")
            prefix = tops.pop()
        self._prefix = prefix
        self._names = {n[len(prefix) :]: n for n in names if n.startswith(prefix)}
        self._days: dict[str, list[DayFile]] = {}
        for info in self._zip.infolist():
            match = (
                _DAY.match(info.filename[len(prefix) :])
                if info.filename.startswith(prefix)
                else None
            )
            if match:
                self._days.setdefault(match["folder"], []).append(
                    DayFile(match["folder"], match["day"], info.filename, info.file_size)
                )
        for files in self._days.values():
            files.sort(key=lambda f: f.day)

    def __enter__(self) -> "SlackArchive":
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()

    def items(self, name: str) -> Iterator[Any]:
        """The elements of a top-level JSON file (users.json...); none when absent."""
        member = self._names.get(name)
        if member is None:
            return
        with self._zip.open(member) as stream:
            yield from json_array_items(stream)

    def days(self, folder: str) -> list[DayFile]:
        return self._days.get(folder, [])

    def messages(self, day: DayFile) -> Iterator[Any]:
        with self._zip.open(day.name) as stream:
            yield from json_array_items(stream)

    def upload(self, file_id: str, name: str) -> zipfile.ZipInfo | None:
        """The export's copy of a file, when it holds one."""
        member = self._names.get(f"__uploads/{file_id}/{name}")
        return self._zip.getinfo(member) if member else None

    def open(self, info: zipfile.ZipInfo) -> IO[bytes]:
        return self._zip.open(info)
