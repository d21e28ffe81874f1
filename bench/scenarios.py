"""One run (a target, a process count, a database) and its scenarios: traffic phases,
the saturation ladder, idle connections, the reconnect storm, all rooms, profiles."""

# ruff: noqa: S603 - every subprocess here is this venv's python or py-spy, fixed argv

import contextlib
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import report
from bench.config import (
    CONNECT_CONCURRENCY,
    P99_LIMIT_MS,
    SETTLE_MAX_SECONDS,
    SHAPES,
    Mode,
    RunConfig,
    Shape,
)
from bench.daphnes import Server, start_server
from bench.loadgen import ClientSpec, LoadGenerator, PhaseSpec
from bench.meter import Meter, pg_pid_reader, proc_cpu_s, redis_cpu_reader
from bench.preparing import Prepared, django_env

# Scenarios whose phase is preceded by a quiet period of the same connections (metered,
# nothing sent): bigroom's µs per delivery stands for "the delivery alone" (docs/
# performance.md), and with 2,000 clients holding them is a large part of it.
QUIET_SCENARIOS = ("bigroom",)
QUIET_MIN_S = 2.0


def new_tag(name: str) -> str:
    return f"{name[:3]}{secrets.token_hex(3)}"


class Run:
    """One configuration: its servers, the generator settings, and its scenarios."""

    def __init__(
        self,
        run: RunConfig,
        mode: Mode,
        prepared: Prepared,
        redis_url: str,
        gen_procs: int,
        log_dir: Path,
        say: Callable[[str], None],
    ) -> None:
        self.run, self.mode, self.prepared = run, mode, prepared
        self.redis_url, self.gen_procs, self.log_dir, self.say = redis_url, gen_procs, log_dir, say
        self.servers: list[Server] = []
        self.old_logs: list[Path] = []  # of processes restarted (storm)
        self.prefix = f"bench{secrets.token_hex(4)}"
        self.sessions = prepared.sessions.get(run.db or "", [])

    # servers

    def env(self) -> dict[str, str]:
        redis = self.redis_url if self.run.config == "2proc-redis" else ""
        if self.run.target == "baseline":
            return {
                "DJANGO_SETTINGS_MODULE": "bench.baseline.settings",
                "BENCH_BASELINE_REDIS_URL": redis,
                "BENCH_BASELINE_PREFIX": self.prefix,
                "PYTHONPATH": str(self.prepared.src),
            }
        env = django_env(self.prepared, self.prepared.database_urls[self.run.db or ""])
        return {**env, "REDIS_URL": redis, "CHAT_LAYER_PREFIX": self.prefix}

    def app_probe(self) -> tuple[str, str]:
        return (
            ("bench.baseline.asgi:application", "/")
            if self.run.target == "baseline"
            else ("chatsite.asgi:application", "/readyz")
        )

    def restart(self, index: int, generation: int) -> tuple[int, int, int]:
        """SIGTERM one process, wait for it to exit, start it again on the same port (as
        deploy/ does, one process at a time). Returns (SIGTERM at, exited at, answering
        its readiness probe again at), CLOCK_MONOTONIC ns."""
        old = self.servers[index]
        sent = time.monotonic_ns()
        old.stop()
        exited = old.exited_ns or time.monotonic_ns()
        self.old_logs.append(old.log_path)
        app, probe = self.app_probe()
        name = f"{self.run.key.replace('/', '-')}-{index}-r{generation}"
        self.servers[index] = start_server(
            name, app, self.env(), probe, self.log_dir, self.prepared.src, port=old.port
        )
        return sent, exited, self.servers[index].ready_ns

    def start(self, count: int) -> None:
        app, probe = self.app_probe()
        name = self.run.key.replace("/", "-")
        for index in range(count):
            self.servers.append(
                start_server(
                    f"{name}-{index}", app, self.env(), probe, self.log_dir, self.prepared.src
                )
            )

    def stop(self) -> list[Path]:
        logs = [*self.old_logs, *(server.log_path for server in self.servers)]
        for server in self.servers:
            server.stop()
        self.servers = []
        if self.run.config == "2proc-redis":
            self.forget_redis_keys()
        return logs

    def forget_redis_keys(self) -> None:
        """Delete this run's channel-layer keys (the core layer's groups live a day)."""
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2)
        with contextlib.suppress(redis.RedisError):
            keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
        client.close()

    def settle(self, max_s: float) -> float:
        """Wait (at most max_s) until the servers are idle: under 10% of a core over half a
        second, so a backlog left by one scenario does not count against the next."""
        pids = [server.proc.pid for server in self.servers]
        started = time.monotonic()
        before = sum(proc_cpu_s(pid) for pid in pids)
        while time.monotonic() - started < max_s:
            time.sleep(0.5)
            now = sum(proc_cpu_s(pid) for pid in pids)
            if now - before < 0.05:
                break
            before = now
        return round(time.monotonic() - started, 1)

    def meter(self, generator: LoadGenerator) -> Meter:
        redis = redis_cpu_reader(self.redis_url) if self.run.config == "2proc-redis" else None
        pg = (
            pg_pid_reader(self.prepared.admin_url, self.prepared.pg_db)
            if self.run.db == "postgresql"
            else None
        )
        return Meter([s.proc.pid for s in self.servers], generator.pids, redis, pg)

    # clients

    def specs(self, scenario: str, shape: Shape, servers: Sequence[Server]) -> list[ClientSpec]:
        """Room-major clients; client i on server i % len(servers); the first
        senders_per_room clients of each room send."""
        if self.run.target == "project" and len(self.sessions) < shape.clients:
            raise RuntimeError(
                f"{scenario}: {shape.clients} clients but {len(self.sessions)} sessions"
            )
        specs = []
        for i in range(shape.clients):
            room, member = divmod(i, shape.clients_per_room)
            server = servers[i % len(servers)]
            slug = f"{self.run.room_prefix}-{scenario}-{room}"
            sender = (
                room * shape.senders_per_room + member if member < shape.senders_per_room else None
            )
            cookie = f"sessionid={self.sessions[i]}" if self.run.target == "project" else None
            specs.append(
                ClientSpec(i, f"{server.ws}/ws/chat/{slug}/", server.http, cookie, slug, sender)
            )
        return specs

    def traffic(self, scenario: str, profile_to: Path | None = None) -> dict[str, Any]:
        shape = SHAPES[scenario]
        specs = self.specs(scenario, shape, self.servers)
        result: dict[str, Any] = {"shape": shape.__dict__}
        with LoadGenerator(specs, self.gen_procs) as gen:
            result["connect"] = connect = gen.connect(CONNECT_CONCURRENCY)
            if connect["connected"] < len(specs):
                # A partly connected room would measure a different scenario.
                result["aborted"] = (
                    f"{connect['connected']} of {len(specs)} connected: "
                    + "; ".join(f"{n}x {why}" for why, n in list(connect["failures"].items())[:3])
                )
                self.say(f"    aborted: {result['aborted']}")
                result["counters"] = gen.close()
                return result
            warm = PhaseSpec(new_tag("warm"), 0.5, min(shape.rate, 5.0), 1.0)
            gen.run_phase(warm)
            # Frames other than messages during the joins and the warm-up: a mass join
            # must not flood the room with presence frames (bigroom).
            result["frames_during_joins"] = gen.counters()["other_frames"]
            meter = self.meter(gen)
            quiet = self.quiet(meter) if scenario in QUIET_SCENARIOS else None
            if scenario == "saturation":
                result["steps"] = self.saturation_steps(gen, meter, shape)
            else:
                seconds = {"light": self.mode.light_s, "fanout": self.mode.fanout_s}.get(
                    scenario, self.mode.rooms_s
                )
                phase = PhaseSpec(new_tag(scenario), seconds, shape.rate, self.mode.drain_s)
                meter.start()
                summary = gen.run_phase(phase)
                summary["cpu"] = meter.stop()
                add_server_cost(summary, quiet)
                result.update(summary)
                if profile_to is not None:
                    result["profile"] = self.profile(gen, shape, profile_to)
            result["counters"] = gen.close()
        return result

    def quiet(self, meter: Meter) -> dict[str, Any]:
        """The CPU of the connected clients' servers with no message sent: what holding
        them costs (pings, the sync, presence upkeep, the session check)."""
        meter.start()
        time.sleep(max(QUIET_MIN_S, self.mode.rooms_s / 2))
        return meter.stop()

    def saturation_steps(
        self, gen: LoadGenerator, meter: Meter, shape: Shape
    ) -> list[dict[str, Any]]:
        steps = []
        senders = shape.rooms * shape.senders_per_room
        for total in self.mode.saturation_steps:
            phase = PhaseSpec(new_tag("sat"), self.mode.step_s, total / senders, self.mode.drain_s)
            meter.start()
            summary = gen.run_phase(phase)
            summary["cpu"] = meter.stop()
            add_server_cost(summary)
            ok, why = sustainable(summary)
            summary["sustainable"], summary["why_not"] = ok, why
            steps.append(summary)
            self.say(
                f"    {total:>5} msg/s: p99 {summary['latency_ms']['p99']} ms, "
                f"loss {summary['loss']}, {'ok' if ok else why}"
            )
            if not ok:
                break
        return steps

    def allrooms_specs(self) -> list[ClientSpec]:
        """One all-rooms connection (`/ws/chat/`) per user, user u on server u % n."""
        shape = self.prepared.allrooms
        if shape is None:
            raise RuntimeError("allrooms: the databases were prepared without it")
        offset = self.prepared.allrooms_user_offset[self.run.room_prefix]
        if len(self.sessions) < offset + shape.users:
            raise RuntimeError(f"allrooms: {offset + shape.users} sessions needed")
        members = shape.members()
        senders = {user: room for room, user in shape.senders(members).items()}
        slot_of = {user: slot for slot, user in enumerate(sorted(senders))}
        rooms_of: list[list[str]] = [[] for _ in range(shape.users)]
        for room, users in enumerate(members):
            for user in users:
                rooms_of[user].append(f"{self.run.room_prefix}-allrooms-{room}")
        specs = []
        for user in range(shape.users):
            server = self.servers[user % len(self.servers)]
            send_room = senders.get(user)
            specs.append(
                ClientSpec(
                    user,
                    f"{server.ws}/ws/chat/",
                    server.http,
                    f"sessionid={self.sessions[offset + user]}",
                    f"{self.run.room_prefix}-allrooms-{send_room}"
                    if send_room is not None
                    else rooms_of[user][0],
                    slot_of.get(user),
                    tuple(rooms_of[user]),
                )
            )
        return specs

    def allrooms(self) -> dict[str, Any]:
        """Every user connects once to /ws/chat/ (connect rate, server CPU per connect,
        hello size), then senders post into their rooms: deliveries, latency, loss,
        per-room seq order on every connection."""
        shape = self.prepared.allrooms
        if shape is None or self.run.target != "project":
            return {"aborted": "project only (the baseline has no all-rooms endpoint)"}
        specs = self.allrooms_specs()
        result: dict[str, Any] = {"shape": {**shape.__dict__, "rooms": shape.rooms}}
        with LoadGenerator(specs, self.gen_procs) as gen:
            meter = self.meter(gen)
            meter.start()
            result["connect"] = connect = gen.connect(CONNECT_CONCURRENCY)
            result["connect_cpu"] = connect_cpu = meter.stop()
            connected = connect["connected"]
            result["server_cpu_ms_per_connect"] = (
                round(1000 * connect_cpu["server_cpu_s"] / connected, 3) if connected else None
            )
            if connected < len(specs):
                result["aborted"] = f"{connected} of {len(specs)} connected: " + "; ".join(
                    f"{n}x {why}" for why, n in list(connect["failures"].items())[:3]
                )
                self.say(f"    aborted: {result['aborted']}")
                result["counters"] = gen.close()
                return result
            self.say(
                f"    {connected} connected, {connect['connects_per_s']}/s, "
                f"{result['server_cpu_ms_per_connect']} ms server CPU each, hello "
                f"{connect['hello_bytes']['p50']} bytes for {connect['hello_rooms']['p50']} rooms"
            )
            self.settle(SETTLE_MAX_SECONDS)  # the joins' presence frames
            gen.run_phase(PhaseSpec(new_tag("warm"), 1.0, shape.rate, 1.0))
            phase = PhaseSpec(new_tag("all"), self.mode.allrooms_s, shape.rate, self.mode.drain_s)
            meter.start()
            summary = gen.run_phase(phase)
            summary["cpu"] = meter.stop()
            add_server_cost(summary)
            result.update(summary)
            result["counters"] = gen.close()
        return result

    def profile(self, gen: LoadGenerator, shape: Shape, out_prefix: Path) -> dict[str, Any]:
        """Repeat the phase with py-spy sampling server 0 (not part of the figures)."""
        pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        pid = str(self.servers[0].proc.pid)
        seconds = self.mode.profile_s
        raw, svg = out_prefix.with_suffix(".txt"), out_prefix.with_suffix(".svg")
        common = [
            "record",
            "--pid",
            pid,
            "--duration",
            str(int(seconds + 1)),
            "--rate",
            "100",
            "--nonblocking",
        ]
        procs = [
            subprocess.Popen(
                [pyspy, *common, *extra, "-o", str(path)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for extra, path in (
                (["--format", "raw", "--threads"], raw),  # thread ids: reactor vs. DB threads
                (["--format", "flamegraph"], svg),
            )
        ]
        time.sleep(1.0)  # attach
        phase = PhaseSpec(new_tag("prof"), seconds, shape.rate, self.mode.drain_s)
        summary = gen.run_phase(phase)
        errors = []
        for proc in procs:
            try:
                _, err = proc.communicate(timeout=seconds + 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            if proc.returncode:
                errors.append(err.decode(errors="replace")[-500:])
        result: dict[str, Any] = {
            "server": self.servers[0].name,
            "seconds": seconds,
            "raw": str(raw) if raw.exists() else None,
            "flamegraph": str(svg) if svg.exists() else None,
            "errors": errors,
            "phase_latency_ms": summary["latency_ms"],
            "phase_loss": summary["loss"],
        }
        if raw.exists():
            result.update(report.hotspots(raw.read_text()))
        return result


def add_server_cost(summary: dict[str, Any], quiet: dict[str, Any] | None = None) -> None:
    """Server µs per delivery: all the servers' CPU over the phase ÷ deliveries; with a
    quiet period measured first, also net of what holding the connections costs."""
    received = summary["received"]
    cpu = summary["cpu"]
    summary["server_us_per_delivery"] = (
        round(cpu["server_cpu_s"] / received * 1e6, 2) if received else None
    )
    if quiet is not None:
        summary["quiet_cpu"] = quiet
        holding_s = quiet["server_cpu_s"] / quiet["wall_s"] * cpu["wall_s"]
        summary["server_us_per_delivery_net"] = (
            round((cpu["server_cpu_s"] - holding_s) / received * 1e6, 2) if received else None
        )


def sustainable(summary: dict[str, Any]) -> tuple[bool, str]:
    if summary["loss"] > 0:
        return False, f"loss {summary['loss']}"
    if summary["latency_ms"]["p99"] is None:
        return False, "nothing received"
    if summary["latency_ms"]["p99"] >= P99_LIMIT_MS:
        return False, f"p99 {summary['latency_ms']['p99']:.0f} ms"
    if summary["dups"] or summary["seq_violations"] or summary["sender_order_violations"]:
        return False, "duplicates or order violations"
    return True, ""
