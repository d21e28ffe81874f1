"""A rolling restart under load, small (docs/deployment.md "Rolling restart"): 1,000
sessions in 10 rooms over two real daphne processes, one sender per room; SIGTERM one
process, start it again on its port, then the other. The sessions reconnect as the page
does (bench/loadgen.py mirrors chat/static/chat/backoff.js, through a balancer that
passes a refusing process over), resume with `?after=` and resend what was not
acknowledged.

Correctness only: every session back and resumed, nothing missed, nothing twice, seq
order kept, every acknowledged send saved once, and no error in any server log. The
times are the bench's (`python -m bench.run --scenario storm`), not asserted here: the
waits below are generous bounds.
"""

import asyncio
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from django.utils.crypto import get_random_string

from bench.daphnes import log_problems
from bench.loadgen import (
    START_DELAY_NS,
    ClientSpec,
    PhaseSpec,
    Reconnect,
    Worker,
    summarize_phase,
)
from chat.models import Message, Room
from tests.servers import Daphne, daphnes, start_daphne

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOMS = 10
PER_ROOM = 100  # 1,000 sessions, 500 on each process
RATE = 1.0  # messages/s of the one sender per room
BEFORE_SECONDS = 1.0  # of traffic before the first SIGTERM
ROLL_SENDS_SECONDS = 8.0  # sends scheduled from the start of the roll (wait while down)
AFTER_SENDS_SECONDS = 3.0  # sends once both processes are back
# Bounds, not targets (the bench measures the times): a phase ends as soon as everything
# arrived, and the roll's phase must outlast both restarts on a loaded machine.
DRAIN_SECONDS = 120.0
# Handshakes in flight at the first connect: few enough that each answers within
# daphne's 5 s handshake bound on a loaded machine (past it daphne answers 403).
CONNECTS_IN_FLIGHT = 16
ERROR_LINE = r"Traceback|ERROR|CRITICAL|Exception"


def sessions_for(count: int) -> list[str]:
    """`count` users, each with one logged-in session, written in bulk (as the bench's
    bench/prepare.py does): logging in 1,000 users one by one takes too long."""
    User.objects.bulk_create(
        [User(username=f"roll{i:04d}", password=make_password(None)) for i in range(count)]
    )
    users = list(User.objects.filter(username__startswith="roll").order_by("username"))
    store = SessionStore()
    expires = timezone.now() + timedelta(days=1)
    sessions = [
        Session(
            session_key=get_random_string(32, VALID_KEY_CHARS),
            session_data=store.encode(
                {
                    SESSION_KEY: str(user.pk),
                    BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash(),
                }
            ),
            expire_date=expires,
        )
        for user in users
    ]
    Session.objects.bulk_create(sessions)
    return [session.session_key for session in sessions]


def restart(servers: list[Daphne], index: int, log_dir: Path, logs: list[Path]) -> None:
    """As deploy/ does: SIGTERM, wait for the exit, start again on the same port."""
    old = servers[index]
    assert old.stop() == 0, old.log()
    logs.append(old.log_path)
    # Its clients reconnect while it starts: on a loaded machine its first answer can
    # take longer than a lone start's bound.
    servers[index] = start_daphne(
        old.env, log_dir, f"{index}-again", port=old.port, probe="/healthz", startup_timeout=120
    )


def test_a_rolling_restart_of_1000_sessions_brings_every_one_back_with_nothing_missed(
    server_env: dict[str, str], log_dir: Path
) -> None:
    slugs = [f"roll-{r}" for r in range(ROOMS)]
    for slug in slugs:
        Room.objects.create(slug=slug, name=slug)
    keys = sessions_for(ROOMS * PER_ROOM)
    env = {
        **server_env,
        "CHAT_MESSAGE_BURST": "0",
        "CHAT_MAX_CONNECTIONS_PER_IP": "0",
        "CHAT_CONNECT_ATTEMPTS_PER_MINUTE": "0",
    }
    logs: list[Path] = []
    with daphnes(env, log_dir, 2) as servers:
        specs = []
        for i, key in enumerate(keys):
            room, member = divmod(i, PER_ROOM)
            server = servers[i % 2]
            specs.append(
                ClientSpec(
                    index=i,
                    url=f"{server.ws}/ws/chat/{slugs[room]}/",
                    origin=server.http,
                    cookie=f"sessionid={key}",
                    room=slugs[room],
                    sender=room if member == 0 else None,
                )
            )
        plan = Reconnect(tuple((s.ws, s.http) for s in servers))

        async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
            worker = Worker(specs)
            connected = await worker.connect(CONNECTS_IN_FLIGHT)
            try:
                # A first message in every room: every session has a seq to resume after.
                warm = PhaseSpec("rollwarm", 1.0, 1.0, DRAIN_SECONDS)
                await worker.run_phase(warm, time.monotonic_ns() + START_DELAY_NS)
                worker.arm_reconnect(
                    Reconnect(plan.servers, until_ns=time.monotonic_ns() + int(300e9))
                )
                phase = PhaseSpec("roll", ROLL_SENDS_SECONDS, RATE, DRAIN_SECONDS)
                t0 = time.monotonic_ns() + START_DELAY_NS

                async def roll() -> None:
                    await asyncio.sleep(BEFORE_SECONDS + START_DELAY_NS / 1e9)
                    for index in range(len(servers)):
                        await asyncio.to_thread(restart, servers, index, log_dir, logs)
                        await asyncio.sleep(1.0)

                roller = asyncio.create_task(roll())
                rolled = await worker.run_phase(phase, t0)
                await asyncio.wait_for(roller, DRAIN_SECONDS)
                deadline = time.monotonic() + DRAIN_SECONDS
                while worker.counters()["down"] and time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                # Both processes back: everything flows, on every session, once.
                after = PhaseSpec("rollafter", AFTER_SENDS_SECONDS, RATE, DRAIN_SECONDS)
                t1 = time.monotonic_ns() + START_DELAY_NS
                settled = await worker.run_phase(after, t1)
                await asyncio.sleep(2.0)  # trailing acks
                counters = worker.counters()
                summary = {
                    "roll": summarize_phase(specs, phase, t0, [rolled]),
                    "after": summarize_phase(specs, after, t1, [settled]),
                }
            finally:
                await worker.close()
            return connected, summary, counters

        connected, summary, counters = asyncio.run(scenario())
        logs.extend(server.log_path for server in servers)

    assert connected["connected"] == len(specs), connected.get("failures")
    events = counters["reconnect_events"]
    assert len(events) >= len(specs), "every session was dropped once at least"
    assert counters["reconnect_gave_up"] == 0
    assert counters["down"] == 0
    assert counters["resumed_incomplete"] == 0
    assert counters["unacked"] == 0, "every send acknowledged in the end"
    assert counters["errors"] == {}
    for name, result in summary.items():
        assert result["loss"] == 0, f"{name}: {result['loss']} of {result['expected']} missed"
        assert result["dups"] == 0, name
        assert result["seq_violations"] == 0, name
        assert result["sender_order_violations"] == 0, name
    # Ack means saved, once: each room's seqs are 1..n with no gap and no duplicate.
    for slug in slugs:
        seqs = list(
            Message.objects.filter(room__slug=slug).order_by("seq").values_list("seq", flat=True)
        )
        assert seqs == list(range(1, len(seqs) + 1)), slug
    per_room = 1 + int(ROLL_SENDS_SECONDS * RATE) + int(AFTER_SENDS_SECONDS * RATE)
    assert Message.objects.count() == ROOMS * per_room
    # No error in any log. (A warning is not asserted on: on a loaded machine daphne
    # warns of a handshake its client gave up on while the server was still opening it.)
    problems = log_problems(logs)
    errors = [k for k in problems["kinds"] if re.search(ERROR_LINE, k["example"])]
    assert not errors, errors
