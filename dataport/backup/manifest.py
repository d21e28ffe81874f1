"""The archive's layout and its manifest (what the backup holds and how to check it).
Pure: no database, no Django settings; the engines and the archive fill it in."""

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import IO, Any

# Bumped when the layout changes in a way an older `restore` could not read.
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
MEDIA_PREFIX = "media/"
CHUNK_BYTES = 1024 * 1024  # read size for copying and hashing: memory stays bounded
MISSING_LISTED = 20  # missing files named in the manifest (the count is always exact)


def database_member(engine: str) -> str:
    return "database.pgdump" if engine == "postgresql" else "database.sqlite3"


@dataclass
class Manifest:
    """Everything `restore` checks before it touches anything, and what the operator
    reads (`tar -xOf backup.tar manifest.json`)."""

    engine: str  # "postgresql" or "sqlite"
    created_at: str  # ISO 8601, UTC: when the snapshot was taken
    versions: dict[str, str]  # app, python, django, database server, dump tool
    migrations: list[list[str]]  # [app, name] applied in the snapshot, in applied order
    counts: dict[str, int]  # rows per table in the snapshot
    checksums: dict[str, str]  # member name -> sha256 hex, every member but this one
    media_files: int = 0
    media_bytes: int = 0
    # Files a snapshot row names that were gone when the files were copied (deleted in
    # between, or missing already): the first MISSING_LISTED of them, and how many.
    media_missing: list[str] = field(default_factory=list)
    media_missing_count: int = 0
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Manifest":
        raw: dict[str, Any] = json.loads(data)
        version = raw.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"backup format {version!r}; this version reads format {FORMAT_VERSION} only"
            )
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in raw.items() if key in known})


class HashingReader:
    """Wraps a binary file: whatever is read through it is hashed (tarfile.addfile reads
    exactly the member's size), so a file is read once for both the copy and its sum."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        return data


def copy_hashed(source: IO[bytes], target: IO[bytes] | None) -> str:
    """Copy source to target (or only read it, target None) in chunks; its sha256."""
    digest = hashlib.sha256()
    while chunk := source.read(CHUNK_BYTES):
        digest.update(chunk)
        if target is not None:
            target.write(chunk)
    return digest.hexdigest()
