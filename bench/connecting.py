"""The connection scenarios: connections held open (RSS and connect rate), and the
reconnect storm (a rolling restart under resume, then fresh authenticated connects)."""

import math
import re
import threading
import time
from typing import Any

from bench.config import (
    CONNECT_CONCURRENCY,
    NEW_CONNECT_CONCURRENCY,
    SETTLE_MAX_SECONDS,
    SHAPES,
    STORM_AFTER_RESTART_S,
    STORM_BACK_WITHIN_S,
    STORM_BEFORE_RESTART_S,
    STORM_MIN_CONNECTED,
    Shape,
)
from bench.daphnes import log_problems
from bench.loadgen import ClientSpec, LoadGenerator, PhaseSpec, Reconnect
from bench.meter import Meter, proc_rss_kib
from bench.scenarios import Run, new_tag


def idle(run: Run) -> dict[str, Any]:
    """N connections held on one process: RSS per connection and connect rate."""
    count = run.mode.idle_connections
    server = run.servers[0]
    if run.run.target == "project" and len(run.sessions) < count + 1:
        raise RuntimeError(f"idle: {count + 1} sessions needed, {len(run.sessions)} prepared")
    shape = Shape(1, count + 1, 0, 0.0)
    specs = run.specs("idle", shape, [server])
    with (
        LoadGenerator(specs[:1], 1) as warm,
        LoadGenerator(specs[1:], run.gen_procs) as gen,
    ):
        warm.connect(1)
        time.sleep(0.5)
        rss_before = proc_rss_kib(server.proc.pid)
        meter = Meter([server.proc.pid], gen.pids, None, None)
        meter.start()
        connect = gen.connect(CONNECT_CONCURRENCY, budget_s=run.mode.idle_connect_s)
        connect_cpu = meter.stop()
        time.sleep(run.mode.idle_hold_s)
        rss_after = proc_rss_kib(server.proc.pid)
        counters = gen.counters()
        closed = gen.close()
        warm.close()
    connected = connect["connected"]
    return {
        "connections": count,
        "connect": connect,
        "connect_cpu": connect_cpu,
        "server_cpu_ms_per_connect": round(1000 * connect_cpu["server_cpu_s"] / connected, 3)
        if connected
        else None,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "rss_kib_per_connection": round((rss_after - rss_before) / connected, 2)
        if connected
        else None,
        "held_s": run.mode.idle_hold_s,
        "open_after_hold": counters["open"],
        "counters": closed,
    }


def storm(run: Run) -> dict[str, Any]:
    """Sessions with resume state, then a rolling restart (SIGTERM one process, start
    it again, then the next): every client reconnects with backoff and full jitter to
    `?after=<last seq>` and resends what was not acknowledged, while one sender per
    room keeps sending. Then fresh authenticated connects, 100 in flight."""
    result: dict[str, Any] = {}
    if run.run.target == "project":
        result.update(_storm_restart(run))
    result["new_connects"] = _new_connects(run)
    # daphne logs a socket it could not close within its 10 s application close
    # timeout only after those 10 s: wait for them before reading the logs.
    time.sleep(12.0)
    problems = log_problems([*run.old_logs, *(s.log_path for s in run.servers)])
    result["log_problems"] = problems["count"]
    result["log_errors"] = sum(
        k["count"]
        for k in problems["kinds"]
        if re.search(r"Traceback|ERROR|CRITICAL|Exception", k["example"])
    )
    result["log_problem_kinds"] = problems["kinds"]
    run.say(f"    server log problems {problems['count']} ({result['log_errors']} errors)")
    return result


def _storm_restart(run: Run) -> dict[str, Any]:
    base = SHAPES["storm"]
    shape = Shape(run.mode.storm_rooms, base.clients_per_room, 1, base.rate)
    specs = run.specs("storm", shape, run.servers)
    result: dict[str, Any] = {"sessions": len(specs), "shape": shape.__dict__}
    plan_servers = tuple((s.ws, s.http) for s in run.servers)
    with LoadGenerator(specs, run.gen_procs) as gen:
        result["connect"] = connect = gen.connect(CONNECT_CONCURRENCY)
        run.say(f"    {connect['connected']} of {len(specs)} connected")
        # A contended machine times out a few of 10,000 first connects: the storm goes
        # on with those connected (reported), not with none.
        if connect["connected"] < STORM_MIN_CONNECTED * len(specs):
            result["aborted"] = f"{connect['connected']} of {len(specs)} connected"
            result["counters"] = gen.close()
            return result
        # a first message in every room, so every session has a seq to resume after
        gen.run_phase(PhaseSpec(new_tag("warm"), 1.0, 1.0, 5.0))
        run.settle(SETTLE_MAX_SECONDS)
        # The restart of both processes fits in the phase; the drain leaves room for
        # every session to be back and the resends to be answered.
        length = STORM_BEFORE_RESTART_S + 2 * 20.0 + STORM_AFTER_RESTART_S
        phase = PhaseSpec(new_tag("storm"), length, shape.rate, STORM_BACK_WITHIN_S)
        until = time.monotonic_ns() + int((length + 2 * STORM_BACK_WITHIN_S) * 1e9)
        gen.arm_reconnect(Reconnect(plan_servers, until_ns=until))
        restarts: list[tuple[int, int, int]] = []

        def roll() -> None:
            time.sleep(STORM_BEFORE_RESTART_S + 0.3)
            for index in range(len(run.servers)):
                restarts.append(run.restart(index, 1))
                time.sleep(2.0)  # as deploy/: the next one once this one answers

        roller = threading.Thread(target=roll, name="rolling-restart")
        roller.start()
        summary = gen.run_phase(phase)
        roller.join(timeout=120)
        counters = gen.counters()
        gen.arm_reconnect(None)
        events = counters.pop("reconnect_events")
        result["phase"] = summary
        result["restarts_ns"] = restarts
        # SIGTERM -> exited (the graceful stop of its sockets), exited -> answering its
        # readiness probe (a new process's start), SIGTERM -> answering again.
        result["restart_s"] = [
            {
                "stop": round((exited - sent) / 1e9, 2),
                "start": round((ready - exited) / 1e9, 2),
                "total": round((ready - sent) / 1e9, 2),
            }
            for sent, exited, ready in restarts
        ]
        back_after: list[float | None] = []
        for k, (sent, _exited, _ready) in enumerate(restarts):
            end = restarts[k + 1][0] if k + 1 < len(restarts) else math.inf
            mine = [e for e in events if sent <= e[0] < end]
            if not mine:
                back_after.append(None)
                continue
            missing = [e for e in mine if not e[1]]
            back_after.append(None if missing else round((max(e[1] for e in mine) - sent) / 1e9, 2))
        result["back_after_s"] = back_after
        result["dropped"] = len(events)
        never = len(specs) - connect["connected"]  # not connected before: not "down"
        result["never_connected"] = never
        result["still_down"] = down = max(counters["down"] - never, 0)
        result["reconnects"] = counters["reconnects"]
        result["gave_up"] = counters["reconnect_gave_up"]
        result["all_back_within_30s"] = (
            bool(restarts)
            and not down
            and all(b is not None and b <= STORM_BACK_WITHIN_S for b in back_after)
        )
        result["resumed_incomplete"] = counters["resumed_incomplete"]
        result["resent"] = counters["resent"]
        result["passed_on"] = counters["passed_on"]  # refused (503, down): next process
        result["unacked_at_end"] = counters["unacked"]
        closed = gen.close()
        closed.pop("reconnect_events", None)  # one per drop: kept out of the result file
        result["counters"] = closed
    run.say(f"    restarts {result['restart_s']}")
    run.say(f"    back after {back_after} s, loss {summary['loss']}, dup {summary['dups']}")
    return result


def _new_connects(run: Run) -> dict[str, Any]:
    """Fresh authenticated connects (sessions nobody else used) at 100 in flight."""
    count = run.mode.storm_new_connects
    first = run.mode.storm_rooms * SHAPES["storm"].clients_per_room
    if run.run.target == "project" and len(run.sessions) < first + count:
        raise RuntimeError(f"storm: {first + count} sessions needed")
    specs = []
    for i in range(count):
        server = run.servers[i % len(run.servers)]
        slug = f"{run.run.room_prefix}-idle-0"
        cookie = f"sessionid={run.sessions[first + i]}" if run.run.target == "project" else None
        specs.append(ClientSpec(i, f"{server.ws}/ws/chat/{slug}/", server.http, cookie, slug))
    run.settle(SETTLE_MAX_SECONDS)
    with LoadGenerator(specs, run.gen_procs) as gen:
        meter = Meter([s.proc.pid for s in run.servers], gen.pids, None, None)
        meter.start()
        connect = gen.connect(NEW_CONNECT_CONCURRENCY)
        cpu = meter.stop()
        gen.close()
    connected = connect["connected"]
    connect["server_cpu_ms_per_connect"] = (
        round(1000 * cpu["server_cpu_s"] / connected, 3) if connected else None
    )
    connect["other_cpu_pct"] = cpu.get("other_cpu_pct")
    run.say(
        f"    new connects: {connected}, {connect['connects_per_s']}/s, "
        f"{connect['server_cpu_ms_per_connect']} ms server CPU each"
    )
    return connect
