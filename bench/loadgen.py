"""Open-loop WebSocket load generator for the chat protocol and the tutorial baseline: its
public face (import from here), the worker processes driven in lock step, and run_inline.

Clients are picows connections (the cheapest Python client per received frame, see
docs/performance.md) on uvloop, optionally spread over several worker processes.

A client holds one room (``/ws/chat/<slug>/``) or, with ``ClientSpec.rooms``, every room
of an all-rooms connection (``/ws/chat/``); a sender there names its room in
``message.send``. The parts:

- bench/loadgen_specs.py: what a run asks for (ClientSpec, PhaseSpec, Reconnect);
- bench/loadgen_worker.py: the clients of one process (Worker) and its commands;
- bench/loadgen_conn.py: one client socket;
- bench/loadgen_connect.py: the first connect, and reconnects with the page's backoff
  through a balancer;
- bench/loadgen_phase.py: a phase's sends on a fixed schedule (the message body format);
- bench/loadgen_receive.py: what arrives, checked (loss, duplicates, order) and timed;
- bench/loadgen_summary.py: the workers' reports merged into the figures.
"""

import asyncio
import contextlib
import multiprocessing
import resource
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from bench.loadgen_connect import CONNECT_TIMEOUT_SECONDS
from bench.loadgen_specs import ClientSpec, PhaseSpec, Reconnect
from bench.loadgen_summary import merge_connects, merge_counters, summarize_phase
from bench.loadgen_worker import Worker

__all__ = [
    "ClientSpec",
    "LoadGenerator",
    "PhaseSpec",
    "Reconnect",
    "Worker",
    "raise_nofile_limit",
    "run_inline",
    "summarize_phase",
]

PIPE_TIMEOUT_SECONDS = 600.0  # longest any worker command may take
START_DELAY_NS = 300_000_000  # phases start this long after the command, on all workers


def raise_nofile_limit() -> int:
    """Lift the soft open-files limit to the hard one; many sockets need many fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- several worker processes ------------------------------------------------------------


def _worker_main(pipe: Connection, specs: list[ClientSpec], mine: list[int], uvloop_: bool) -> None:
    raise_nofile_limit()
    if uvloop_:
        import uvloop

        uvloop.run(_serve(pipe, specs, mine))
    else:
        asyncio.run(_serve(pipe, specs, mine))


async def _serve(pipe: Connection, specs: list[ClientSpec], mine: list[int]) -> None:
    worker = Worker(specs, mine)
    loop = asyncio.get_running_loop()
    for _ in range(1_000_000):  # bounded; a "quit" ends it
        command = await loop.run_in_executor(None, pipe.recv)
        kind = command[0]
        if kind == "connect":
            pipe.send(await worker.connect(command[1], command[2], command[3]))
        elif kind == "phase":
            pipe.send(await worker.run_phase(command[1], command[2]))
        elif kind == "counters":
            pipe.send(worker.counters())
        elif kind == "reconnect":
            worker.arm_reconnect(command[1])
            pipe.send(None)
        elif kind == "close":
            pipe.send(await worker.close())
        else:
            pipe.send(None)
            return


class LoadGenerator:
    """Worker processes holding `specs` between them (round-robin), driven in lock step."""

    def __init__(
        self, specs: Sequence[ClientSpec], processes: int = 1, uvloop_: bool = True
    ) -> None:
        self.specs = list(specs)
        context = multiprocessing.get_context("spawn")  # no inherited loop or sockets
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.pipes: list[Connection] = []
        count = max(1, min(processes, len(self.specs)))
        for index in range(count):
            mine = list(range(index, len(self.specs), count))
            parent, child = context.Pipe()
            proc = context.Process(
                target=_worker_main,
                args=(child, self.specs, mine, uvloop_),
                name=f"loadgen-{index}",
                daemon=True,
            )
            proc.start()
            child.close()
            self.processes.append(proc)
            self.pipes.append(parent)

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.processes if proc.pid is not None]

    def _all(self, command: tuple[Any, ...], timeout_s: float = PIPE_TIMEOUT_SECONDS) -> list[Any]:
        for pipe in self.pipes:
            pipe.send(command)
        answers = []
        deadline = time.monotonic() + timeout_s
        for pipe, proc in zip(self.pipes, self.processes, strict=True):
            while not pipe.poll(0.2):
                if not proc.is_alive():
                    raise RuntimeError(f"{proc.name} died (exit {proc.exitcode})")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{proc.name} did not answer {command[0]!r}")
            answers.append(pipe.recv())
        return answers

    def connect(
        self,
        concurrency: int = 32,
        timeout_s: float = CONNECT_TIMEOUT_SECONDS,
        budget_s: float | None = None,
    ) -> dict[str, Any]:
        per_worker = max(1, concurrency // len(self.pipes))
        reports = self._all(("connect", per_worker, timeout_s, budget_s))
        return merge_connects(reports, max(r["wall_s"] for r in reports))

    def run_phase(self, phase: PhaseSpec) -> dict[str, Any]:
        t0 = time.monotonic_ns() + START_DELAY_NS
        reports = self._all(("phase", phase, t0))
        return summarize_phase(self.specs, phase, t0, reports)

    def counters(self) -> dict[str, Any]:
        return merge_counters(self._all(("counters",)))

    def arm_reconnect(self, plan: Reconnect | None) -> None:
        self._all(("reconnect", plan))

    def close(self) -> dict[str, Any]:
        return merge_counters(self._all(("close",)))

    def stop(self) -> None:
        for pipe, proc in zip(self.pipes, self.processes, strict=True):
            if proc.is_alive():
                with contextlib.suppress(OSError):
                    pipe.send(("quit",))
        for proc in self.processes:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)

    def __enter__(self) -> "LoadGenerator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def run_inline(
    specs: Sequence[ClientSpec],
    phases: Sequence[PhaseSpec],
    concurrency: int = 32,
    acked: dict[str, tuple[int, str, str]] | None = None,
    linger_s: float = 0.0,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Everything in the running event loop (no worker processes): connect, run each
    phase, close. Returns (connect summary, phase summaries, counters); `acked`, if
    given, is filled with every acknowledged client_id -> (seq, room, body). A phase
    ends at its last delivery, which can come before the sender's ack: `linger_s` keeps
    the connections open that much longer before closing them."""
    worker = Worker(specs)
    if acked is not None:
        worker.receiver.acked = acked
    report = await worker.connect(concurrency)
    connected = merge_connects([report], report["wall_s"])
    results = []
    try:
        for phase in phases:
            t0 = time.monotonic_ns() + START_DELAY_NS
            report = await worker.run_phase(phase, t0)
            results.append(summarize_phase(specs, phase, t0, [report]))
        await asyncio.sleep(linger_s)
    finally:
        counters = await worker.close()
    return connected, results, counters
