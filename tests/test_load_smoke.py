"""A small, fast run of the benchmark's load generator (bench/loadgen.py) against two
real daphne processes and Redis: every delivery arrives, once, in order.

It guards the server's fan-out and the generator's own accounting at once; the timing
figures live in `python -m bench.run` (docs/performance.md), not here.
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

CLIENTS = 30
SENDERS = 3
RATE = 20.0  # messages/s per sender
SECONDS = 3.0
DRAIN_SECONDS = 10.0  # generous: the assertion is "nothing lost", not "fast"


def test_fan_out_under_load_loses_nothing_and_keeps_order(
    server_env: dict[str, str], log_dir: Path, make_user: Callable[..., User]
) -> None:
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    cookies = [session_cookie(make_user(f"load{i:02d}")) for i in range(CLIENTS)]
    # 20 msg/s per user and 30 sockets from one address: past the abuse limits' defaults.
    env = {
        **server_env,
        "CHAT_MESSAGE_BURST": "0",
        "CHAT_MAX_CONNECTIONS_PER_IP": "0",
        "CHAT_CONNECT_ATTEMPTS_PER_MINUTE": "0",
    }
    with daphnes(env, log_dir, 2) as servers:
        specs = [
            ClientSpec(
                index=i,
                url=f"{servers[i % 2].ws}/ws/chat/lobby/",
                origin=servers[i % 2].http,
                cookie=cookies[i],
                room="lobby",
                sender=i if i < SENDERS else None,
            )
            for i in range(CLIENTS)
        ]
        phase = PhaseSpec("smoke", SECONDS, RATE, DRAIN_SECONDS)
        connected, (result,), counters = asyncio.run(run_inline(specs, [phase]))

    assert connected["connected"] == CLIENTS, connected["failures"]
    planned = int(SECONDS * RATE) * SENDERS
    assert result["sent"] == planned
    assert result["send_failures"] == 0
    assert result["expected"] == planned * CLIENTS
    assert result["loss"] == 0, f"{result['loss']} of {result['expected']} deliveries lost"
    assert result["dups"] == 0
    assert result["seq_violations"] == 0  # seq strictly increasing on every connection
    assert result["sender_order_violations"] == 0
    assert result["disconnects"] == 0
    assert counters["errors"] == {}
    # Acks may trail the last broadcast (the generator stops at the last delivery), so
    # only "never more than one per message" is checked; the saved rows are exact.
    assert counters["acks"] <= planned
    assert Message.objects.filter(room__slug="lobby").count() == planned
