"""A backup taken while two daphne processes accept messages, restored into a fresh
database and media directory: every message acknowledged before the backup started is
there with its seq, the snapshot is one consistent moment (seqs 1..N with no hole,
nothing sent after the backup finished), the uploaded file comes back, and after a
restart on the restored database the seqs go on from N+1 without gap or duplicate.
On both engines (SQLite: its install shape, the in-memory channel layer)."""

import asyncio
import os
import sqlite3
import subprocess
import sys
import tarfile
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from chat.models import Room
from dataport.backup.manifest import Manifest
from tests.chat_client import ChatClient
from tests.conftest import database_url, session_cookie
from tests.servers import ROOT, Daphne, daphnes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FILE_BYTES = b"minutes of the meeting\n" * 40
WARM_UP_ACKS = 20  # messages acknowledged before the backup starts
AFTER_BACKUP_SECONDS = 0.5  # sending goes on this long after the backup finished
COMMAND_TIMEOUT_SECONDS = 120
SENDS_AFTER_RESTART = 10  # per client


@dataclass
class Sent:
    body: str
    started: float  # loop time the send was handed to the socket
    acked: float
    seq: int


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


@contextmanager
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's engine: its URL."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    name = f"{connection.settings_dict['NAME']}_restored"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url().rsplit("/", 1)[0] + f"/{name}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def room_seqs(url: str, slug: str) -> tuple[dict[str, int], int]:
    """(body -> seq of the room's messages, the room's last_seq) read from url."""
    sql_rows = (
        "SELECT m.body, m.seq FROM chat_message m JOIN chat_room r ON r.id = m.room_id"
        " WHERE r.slug = {0}"
    )
    sql_last = "SELECT last_seq FROM chat_room WHERE slug = {0}"
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            rows = db.execute(sql_rows.format("?"), [slug]).fetchall()
            (last,) = db.execute(sql_last.format("?"), [slug]).fetchone()
    else:
        with psycopg.connect(url.replace("postgres://", "postgresql://")) as db:
            rows = db.execute(sql_rows.format("%s"), [slug]).fetchall()
            row = db.execute(sql_last.format("%s"), [slug]).fetchone()
            assert row is not None
            (last,) = row
    bodies = {str(body): int(seq) for body, seq in rows}
    assert len(bodies) == len(rows), "a body twice"
    return bodies, int(last)


async def send_until(client: ChatClient, stop: asyncio.Event, log: list[Sent]) -> None:
    loop = asyncio.get_running_loop()
    index = 0
    while not stop.is_set():
        body = f"{client.name}-{index}"
        started = loop.time()
        seq = await client.send(body)
        log.append(Sent(body, started, loop.time(), seq))
        index += 1
        await asyncio.sleep(0.05)  # two cores shared: a steady stream, not a flood


async def traffic_with_backup(
    servers: list[Daphne], cookies: list[str], env: dict[str, str], archive: Path
) -> tuple[list[Sent], float, float]:
    """Four senders, two on each process; the backup runs in the middle of it."""
    clients = [ChatClient(f"c{i}", cookies[i % 2], servers, i % 2, "lobby") for i in range(4)]
    for client in clients:
        await client.start()
    log: list[Sent] = []
    stop = asyncio.Event()
    senders = [asyncio.create_task(send_until(client, stop, log)) for client in clients]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(log) < WARM_UP_ACKS and loop.time() < deadline:
        await asyncio.sleep(0.05)
    began = loop.time()
    backup = await asyncio.create_subprocess_exec(
        sys.executable,
        "manage.py",
        "backup",
        str(archive),
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(backup.communicate(), COMMAND_TIMEOUT_SECONDS)
    ended = loop.time()
    assert backup.returncode == 0, err.decode()
    await asyncio.sleep(AFTER_BACKUP_SECONDS)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*senders), 60)
    for client in clients:
        await client.stop()
    return log, began, ended


async def sends_after_restart(
    servers: list[Daphne], cookies: list[str], last_seq: int
) -> list[int]:
    clients = [ChatClient(f"r{i}", cookies[i % 2], servers, i % 2, "lobby") for i in range(2)]
    for client in clients:
        client.seqs = [last_seq]  # resume where the restored room ends
        await client.start()

    async def burst(client: ChatClient) -> list[int]:
        return [await client.send(f"{client.name}-after-{i}") for i in range(SENDS_AFTER_RESTART)]

    seqs = await asyncio.wait_for(asyncio.gather(*(burst(c) for c in clients)), 60)
    for client in clients:
        await client.stop()
    return [seq for part in seqs for seq in part]


def test_backup_during_traffic_restores_every_acknowledged_message_and_seqs_go_on(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    tmp_path: Path,
    settings: Any,
) -> None:
    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)
    layer = {} if connection.vendor == "postgresql" else {"REDIS_URL": ""}
    env = {**server_env, **layer, "DJANGO_MEDIA_ROOT": str(media)}
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    alice, bob = make_user("alice"), make_user("bob")
    uploader = Client()
    uploader.force_login(alice)
    answer = uploader.post(
        "/api/rooms/lobby/files/",
        {"file": SimpleUploadedFile("minutes.txt", FILE_BYTES, content_type="text/plain")},
    )
    assert answer.status_code == 201, answer.content
    attachment_id = answer.json()["attachment"]["id"]
    cookies = [session_cookie(alice), session_cookie(bob)]
    archive = tmp_path / "backup.tar"

    with daphnes(env, log_dir, 2) as servers:
        log, began, ended = asyncio.run(traffic_with_backup(servers, cookies, env, archive))

    with tarfile.open(archive) as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        manifest = Manifest.from_json(handle.read())
    assert manifest.media_missing_count == 0
    assert manifest.media_files == 1
    during = [s for s in log if began < s.acked < ended]
    assert during, "no message was acknowledged while the backup ran"
    restored_media = tmp_path / "restored-media"
    with fresh_database(tmp_path) as url:
        restored_env = {**env, "DATABASE_URL": url, "DJANGO_MEDIA_ROOT": str(restored_media)}
        manage(restored_env, "restore", str(archive))
        bodies, last_seq = room_seqs(url, "lobby")

        # Acknowledged before the backup began: there, with the seq its ack gave.
        before = {s.body: s.seq for s in log if s.acked < began}
        assert len(before) >= WARM_UP_ACKS
        assert {body: bodies.get(body) for body in before} == before
        # One moment: seqs 1..N without a hole (the file's message is seq 1), and every
        # restored message has its ack's seq; nothing sent after the backup ended.
        assert sorted(bodies.values()) == list(range(1, last_seq + 1))
        acked = {s.body: s.seq for s in log}
        assert {b: s for b, s in bodies.items() if b in acked} == {
            b: acked[b] for b in bodies if b in acked
        }
        assert not [s.body for s in log if s.started > ended and s.body in bodies]
        assert len(bodies) < 1 + len(log), "the snapshot holds every message ever sent"

        # Restarted on the restored database (its sessions too): seqs go on.
        with daphnes(restored_env, log_dir, 2) as servers:
            new_seqs = asyncio.run(sends_after_restart(servers, cookies, last_seq))
            request = urllib.request.Request(
                f"{servers[1].http}/api/attachments/{attachment_id}/",
                headers={"Cookie": cookies[1]},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.read() == FILE_BYTES
        assert sorted(new_seqs) == list(range(last_seq + 1, last_seq + 1 + 2 * SENDS_AFTER_RESTART))
        after, last_after = room_seqs(url, "lobby")
        assert sorted(after.values()) == list(range(1, last_after + 1))
        assert last_after == last_seq + 2 * SENDS_AFTER_RESTART
