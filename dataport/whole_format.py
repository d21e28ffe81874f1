"""The whole-chat archive's format (chat_export writes it, chat_import reads it): names of
its members, its version, and JSON Lines written and read one line at a time with each
member's SHA-256 taken on the way. Knows zip files and JSON, not the models."""

import hashlib
import json
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any, TypedDict, cast

FORMAT_NAME = "chat-export"
# Bumped whenever a reader of the previous version would misread an archive.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
USERS = "users.jsonl"
ROOMS = "rooms.jsonl"
MEMBERSHIPS = "memberships.jsonl"
MESSAGES = "messages.jsonl"
FILES_DIR = "files/"
CHUNK_BYTES = 1 << 16


class Checksum(TypedDict):
    sha256: str
    bytes: int


class Manifest(TypedDict):
    format: str
    version: int
    created_at: str
    options: dict[str, Any]
    counts: dict[str, int]
    members: dict[str, Checksum]  # every other member of the zip, by name


def time_out(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def time_in(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class MemberWriter:
    """One zip member being written: JSON lines (or raw chunks) hashed as they go."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        self.name = name
        self._out: IO[bytes] = archive.open(name, "w", force_zip64=True)
        self._hash = hashlib.sha256()
        self._bytes = 0
        self.lines = 0

    def raw(self, data: bytes) -> None:
        self._hash.update(data)
        self._bytes += len(data)
        self._out.write(data)

    def line(self, item: dict[str, Any]) -> None:
        self.raw(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        self.lines += 1

    def close(self) -> Checksum:
        self._out.close()
        return {"sha256": self._hash.hexdigest(), "bytes": self._bytes}


def lines_read(archive: zipfile.ZipFile, name: str) -> Iterator[dict[str, Any]]:
    """The member's JSON objects one by one (never the whole member in memory)."""
    with archive.open(name) as stream:
        for raw in stream:
            if raw.strip():
                item = json.loads(raw)
                if not isinstance(item, dict):
                    raise ValueError(f"{name}: a line is not a JSON object")
                yield item


def member_checksum(archive: zipfile.ZipFile, name: str) -> Checksum:
    digest, size = hashlib.sha256(), 0
    with archive.open(name) as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return {"sha256": digest.hexdigest(), "bytes": size}


def manifest_read(archive: zipfile.ZipFile) -> Manifest:
    """The manifest, checked: our format, a version we read, and every member present
    with the size and SHA-256 it lists (a truncated or altered archive is refused before
    anything is written). ValueError otherwise."""
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except KeyError as error:
        raise ValueError("not a chat export: no manifest.json") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError("not a chat export: unknown format")
    if manifest.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"format version {manifest.get('version')} is not {FORMAT_VERSION}, the one"
            " this server reads"
        )
    names = set(archive.namelist()) - {MANIFEST}
    listed: dict[str, Checksum] = manifest.get("members", {})
    if names != set(listed):
        raise ValueError("the archive's files are not the ones its manifest lists")
    for name, expected in listed.items():
        if member_checksum(archive, name) != expected:
            raise ValueError(f"{name}: checksum mismatch (damaged or altered archive)")
    # Its fields were checked above: from here on it is the typed manifest.
    return cast(Manifest, manifest)
