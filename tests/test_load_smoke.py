"""A small, fast run of the benchmark's load generator (bench/loadgen.py) against two
real daphne processes and Redis: concurrent senders in two rooms on both processes, so
each process's group commit (chat/database/group_commit.py) saves sends of both rooms
together.
Every delivery arrives, once, in seq order, and every acknowledged send is in the
database with the seq and body its ack gave ("acknowledged means saved").

It guards the write path, the fan-out and the generator's own accounting at once; the
timing figures live in `python -m bench.run` (docs/performance.md), not here. Nothing is
timed: the drain and the linger are generous bounds, not thresholds.
"""

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from bench.loadgen import ClientSpec, PhaseSpec, run_inline
from chat.models import Message, Room
from tests.conftest import session_cookie
from tests.servers import daphnes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOMS = ("lobby", "annex")
CLIENTS_PER_ROOM = 15
SENDERS_PER_ROOM = 4  # on both processes (client i is on process i % 2)
RATE = 15.0  # messages/s per sender: 120 msg/s in all, sends often arrive mid-batch
SECONDS = 3.0
DRAIN_SECONDS = 15.0  # generous: the assertion is "nothing lost", not "fast"
LINGER_SECONDS = 2.0  # acks can trail the last delivery


def test_concurrent_senders_on_two_processes_lose_nothing_and_every_ack_is_saved(
    server_env: dict[str, str], log_dir: Path, make_user: Callable[..., User]
) -> None:
    for slug in ROOMS:
        Room.objects.get_or_create(slug=slug, defaults={"name": slug.title()})
    clients = CLIENTS_PER_ROOM * len(ROOMS)
    cookies = [session_cookie(make_user(f"load{i:02d}")) for i in range(clients)]
    # 15 msg/s per user and 30 sockets from one address: past the abuse limits' defaults.
    env = {
        **server_env,
        "CHAT_MESSAGE_BURST": "0",
        "CHAT_MAX_CONNECTIONS_PER_IP": "0",
        "CHAT_CONNECT_ATTEMPTS_PER_MINUTE": "0",
    }
    acked: dict[str, tuple[int, str, str]] = {}
    with daphnes(env, log_dir, 2) as servers:
        specs = []
        for i in range(clients):
            room, member = divmod(i, CLIENTS_PER_ROOM)
            server = servers[i % 2]
            specs.append(
                ClientSpec(
                    index=i,
                    url=f"{server.ws}/ws/chat/{ROOMS[room]}/",
                    origin=server.http,
                    cookie=cookies[i],
                    room=ROOMS[room],
                    sender=room * SENDERS_PER_ROOM + member if member < SENDERS_PER_ROOM else None,
                )
            )
        phase = PhaseSpec("smoke", SECONDS, RATE, DRAIN_SECONDS)
        connected, (result,), counters = asyncio.run(
            run_inline(specs, [phase], acked=acked, linger_s=LINGER_SECONDS)
        )

    assert connected["connected"] == clients, connected["failures"]
    per_sender = int(SECONDS * RATE)
    planned = per_sender * SENDERS_PER_ROOM * len(ROOMS)
    assert result["sent"] == planned
    assert result["send_failures"] == 0
    assert result["expected"] == per_sender * SENDERS_PER_ROOM * clients
    assert result["loss"] == 0, f"{result['loss']} of {result['expected']} deliveries lost"
    assert result["dups"] == 0
    assert result["seq_violations"] == 0  # seq strictly increasing on every connection
    assert result["sender_order_violations"] == 0
    assert result["disconnects"] == 0
    assert counters["errors"] == {}

    # Every send acknowledged once, and every ack names the row the database holds.
    assert counters["acks"] == planned
    assert len(acked) == planned
    saved = {
        client_id: (seq, slug, body)
        for client_id, seq, slug, body in Message.objects.filter(room__slug__in=ROOMS).values_list(
            "client_id", "seq", "room__slug", "body"
        )
    }
    assert saved == acked
    # Per room: seqs 1..n, no gap and no duplicate, across both processes' batches.
    for slug in ROOMS:
        seqs = sorted(seq for seq, room, _ in saved.values() if room == slug)
        assert seqs == list(range(1, per_sender * SENDERS_PER_ROOM + 1))
