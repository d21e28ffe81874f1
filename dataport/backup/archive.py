"""Writing a backup archive and restoring one: the order of the steps and the checks.
The engines (postgres.py, sqlite.py) take and load the database snapshot; this module
adds the uploaded files and the manifest, and refuses to restore over data.

Order when writing: the database snapshot first, then the files. An upload is saved
before its row commits, so every file a snapshot row names existed when the snapshot
was taken; copying the files afterwards therefore misses only files deleted in between
(retention, an erased person), which the manifest counts. Files uploaded after the
snapshot are copied too, unreferenced and harmless."""

import importlib.metadata
import io
import os
import platform
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from types import ModuleType

import django
from django.apps import apps
from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from dataport.backup import postgres, sqlite
from dataport.backup.manifest import (
    MANIFEST_NAME,
    MEDIA_PREFIX,
    MISSING_LISTED,
    HashingReader,
    Manifest,
    copy_hashed,
    database_member,
)

ARCHIVE_PREFIX = "chat-backup-"  # names in a backup directory; rotation touches no other
ARCHIVE_SUFFIX = ".tar"

Warn = Callable[[str], None]


def _engine() -> tuple[str, ModuleType]:
    if connection.vendor == "postgresql":
        return "postgresql", postgres
    if connection.vendor == "sqlite":
        return "sqlite", sqlite
    raise CommandError(f"backups support PostgreSQL and SQLite, not {connection.vendor}")


def _media_root(warn: Warn) -> Path | None:
    """MEDIA_ROOT when uploads are files on this machine; None (with a warning) when the
    default storage is elsewhere (object storage keeps its own copies and versions)."""
    if not isinstance(default_storage, FileSystemStorage):
        warn(
            f"warning: uploads are in {type(default_storage).__name__}, not on this disk: "
            "back them up with that storage's own tools; this archive holds the database."
        )
        return None
    return Path(settings.MEDIA_ROOT)


def _media_files(root: Path) -> Iterator[Path]:
    """Regular files under root, in a stable order; symlinks are not followed."""
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        for name in sorted(files):
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                yield path


def archive_path(target: Path) -> Path:
    """A directory gets a new time-stamped archive in it (the nightly timer's form)."""
    if target.is_dir():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return target / f"{ARCHIVE_PREFIX}{stamp}{ARCHIVE_SUFFIX}"
    return target


def backup_write(target: Path, *, pg_bin: str | None, warn: Warn) -> tuple[Path, Manifest]:
    """Write the archive to `<path>.partial` and rename it at the end: a failed or
    killed backup never leaves a file that looks like a good one (and a failed one
    removes its partial file)."""
    path = archive_path(target)
    partial = path.with_name(path.name + ".partial")
    try:
        manifest = _write(path, partial, pg_bin, warn)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    with partial.open("rb") as done:
        os.fsync(done.fileno())
    partial.rename(path)
    return path, manifest


def _write(path: Path, partial: Path, pg_bin: str | None, warn: Warn) -> Manifest:
    engine, module = _engine()
    media_root = _media_root(warn)
    checksums: dict[str, str] = {}
    media_files = media_bytes = 0
    missing: list[str] = []
    missing_count = 0
    with tempfile.TemporaryDirectory(prefix=".chat-backup-", dir=path.parent) as scratch:
        dump = Path(scratch, database_member(engine))
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        # Owner-only from the first byte: the archive holds password hashes and sessions.
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with (
            module.snapshot(dump, pg_bin, warn) as snap,
            os.fdopen(descriptor, "wb") as out,
            tarfile.open(fileobj=out, mode="w") as tar,
        ):
            member = database_member(engine)
            with dump.open("rb") as raw:
                reader = HashingReader(raw)
                tar.addfile(_info(member, dump.stat().st_size), reader)
                checksums[member] = reader.sha256.hexdigest()
            if media_root is not None and media_root.is_dir():
                for file in _media_files(media_root):
                    if file.resolve() in (partial.resolve(), path.resolve()):
                        continue
                    name = MEDIA_PREFIX + file.relative_to(media_root).as_posix()
                    try:
                        raw = file.open("rb")
                    except FileNotFoundError:  # deleted since the walk listed it
                        continue
                    with raw:
                        size = os.fstat(raw.fileno()).st_size
                        reader = HashingReader(raw)
                        tar.addfile(_info(name, size), reader)
                    checksums[name] = reader.sha256.hexdigest()
                    media_files += 1
                    media_bytes += size
            if media_root is not None:
                for name in snap.referenced_files():
                    if MEDIA_PREFIX + name not in checksums:
                        missing_count += 1
                        if len(missing) < MISSING_LISTED:
                            missing.append(name)
            manifest = Manifest(
                engine=engine,
                created_at=created_at,
                versions={**_versions(), **snap.versions},
                migrations=snap.migrations,
                counts=snap.counts,
                checksums=checksums,
                media_files=media_files,
                media_bytes=media_bytes,
                media_missing=missing,
                media_missing_count=missing_count,
            )
            data = manifest.to_json()
            tar.addfile(_info(MANIFEST_NAME, len(data)), io.BytesIO(data))
    return manifest


def backup_rotate(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` archives of this command in `directory` (their
    names sort by time); other files are never touched. Returns what was deleted."""
    archives = sorted(directory.glob(f"{ARCHIVE_PREFIX}*{ARCHIVE_SUFFIX}"))
    doomed = archives[:-keep] if keep > 0 else []
    for old in doomed:
        old.unlink()
    return doomed


def _versions() -> dict[str, str]:
    try:
        app = importlib.metadata.version("chatsite")
    except importlib.metadata.PackageNotFoundError:
        app = "unknown"
    return {"app": app, "python": platform.python_version(), "django": django.get_version()}


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600  # the archive holds password hashes and sessions: owner only
    info.mtime = int(datetime.now(UTC).timestamp())
    return info


@dataclass
class RestoreResult:
    manifest: Manifest
    counts: dict[str, int]
    media_files: int
    pending_migrations: int  # known to this code, not in the backup: `migrate` applies


def restore_read_manifest(tar: tarfile.TarFile) -> Manifest:
    try:
        member = tar.getmember(MANIFEST_NAME)
    except KeyError:
        raise CommandError("not a chat backup: no manifest.json in the archive") from None
    handle = tar.extractfile(member)
    if handle is None:
        raise CommandError("not a chat backup: manifest.json is not a file")
    try:
        return Manifest.from_json(handle.read())
    except (ValueError, TypeError) as error:
        raise CommandError(f"unreadable manifest: {error}") from None


def _member_ok(member: tarfile.TarInfo, engine: str) -> bool:
    """Only the members a backup writes: no links, devices, absolute paths or `..`."""
    if not member.isreg():
        return False
    if member.name in (MANIFEST_NAME, database_member(engine)):
        return True
    parts = PurePosixPath(member.name).parts
    return (
        member.name.startswith(MEDIA_PREFIX)
        and len(parts) > 1
        and not PurePosixPath(member.name).is_absolute()
        and ".." not in parts
    )


def _check_migrations(manifest: Manifest, warn: Warn) -> int:
    """Refuse a backup from newer code (migrations this code does not have); return how
    many of this code's migrations the backup lacks (`migrate` applies them)."""
    on_disk = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    installed = {app.label for app in apps.get_app_configs()}
    applied = {(app, name) for app, name in manifest.migrations}
    newer = sorted(m for m in applied if m[0] in installed and m not in on_disk)
    if newer:
        listed = ", ".join(f"{app}.{name}" for app, name in newer[:5])
        raise CommandError(
            f"this backup comes from newer code: it has migrations this version lacks "
            f"({listed}). Restore it with the version that wrote it "
            f"({manifest.versions.get('app', '?')}), or a later one."
        )
    gone = sorted({app for app, _ in applied if app not in installed})
    if gone:
        warn(f"warning: the backup has tables of apps not installed here: {', '.join(gone)}")
    return len(on_disk - applied)


def _not_empty(module: ModuleType, media_root: Path | None) -> list[str]:
    found = []
    present = module.present_tables()
    if present:
        found.append(f"the database has {len(present)} tables ({', '.join(present[:3])}, …)")
    if media_root is not None and media_root.is_dir() and next(_media_files(media_root), None):
        found.append(f"the media directory {media_root} holds files")
    return found


def _wipe_media(root: Path) -> None:
    """Empty the directory but keep it: it may be a mount point, or named in the
    units' ReadWritePaths."""
    for directory, subdirs, files in os.walk(root, topdown=False):
        for name in files:
            Path(directory, name).unlink()
        for name in subdirs:
            path = Path(directory, name)
            if path.is_symlink():
                path.unlink()
            else:
                path.rmdir()


def restore(source: Path, *, force: bool, pg_bin: str | None, warn: Warn) -> RestoreResult:
    """Every check first (engine, versions, emptiness, every member's checksum), then
    the database, then the files, then the restored counts against the manifest's."""
    engine, module = _engine()
    media_root = _media_root(warn)
    with tarfile.open(source, "r:") as tar:
        manifest = restore_read_manifest(tar)
        if manifest.engine != engine:
            raise CommandError(
                f"this is a {manifest.engine} backup and DATABASE_URL is {engine}: restore "
                "into the same engine (`chat_export`/`chat_import` move a chat between engines)."
            )
        pending = _check_migrations(manifest, warn)
        occupied = _not_empty(module, media_root)
        if occupied and not force:
            raise CommandError(
                "refusing to restore over existing data: "
                + "; ".join(occupied)
                + ". Restore into an empty database and media directory, or pass --force "
                "to delete what is there first."
            )
        with tempfile.TemporaryDirectory(prefix="chat-restore-") as scratch:
            dump = Path(scratch, database_member(engine))
            _verify(tar, manifest, engine, dump)
            if occupied:
                module.wipe()
                if media_root is not None and media_root.is_dir():
                    _wipe_media(media_root)
            module.load(dump, manifest, pg_bin)
        restored_media = _extract_media(tar, media_root) if media_root else 0
    counts = module.counts_now()
    differing = {
        table: (manifest.counts.get(table), counts.get(table))
        for table in set(manifest.counts) | set(counts)
        if manifest.counts.get(table) != counts.get(table)
    }
    if differing:
        raise CommandError(f"restored row counts differ from the manifest's: {differing}")
    return RestoreResult(manifest, counts, restored_media, pending)


def _verify(tar: tarfile.TarFile, manifest: Manifest, engine: str, dump: Path) -> None:
    """Read every member once against its checksum before anything is changed; the
    database member is written out on the way (pg_restore and SQLite need a file)."""
    seen: set[str] = set()
    for member in tar:
        if member.name == MANIFEST_NAME:
            continue
        if not _member_ok(member, engine) or member.name not in manifest.checksums:
            raise CommandError(f"unexpected member in the archive: {member.name!r}")
        handle = tar.extractfile(member)
        assert handle is not None  # noqa: S101 - a regular file, checked above
        if member.name == database_member(engine):
            with dump.open("wb") as out:
                digest = copy_hashed(handle, out)
        else:
            digest = copy_hashed(handle, None)
        if digest != manifest.checksums[member.name]:
            raise CommandError(f"checksum mismatch for {member.name}: the archive is damaged")
        seen.add(member.name)
    lacking = sorted(set(manifest.checksums) - seen)
    if lacking:
        raise CommandError(f"the archive lacks {len(lacking)} members, e.g. {lacking[0]}")


def _extract_media(tar: tarfile.TarFile, root: Path) -> int:
    count = 0
    for member in tar:
        if not member.name.startswith(MEDIA_PREFIX):
            continue
        target = root / member.name[len(MEDIA_PREFIX) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = tar.extractfile(member)
        assert handle is not None  # noqa: S101 - checked by _verify
        with target.open("wb") as out:
            copy_hashed(handle, out)
        count += 1
    return count
