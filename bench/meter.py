"""Process figures for the bench: CPU and RSS of the servers, the generator, Redis and
PostgreSQL, read from /proc and sampled around each phase."""

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.config import CLK_TCK


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, seconds (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def system_busy_s() -> float:
    """CPU seconds all cores spent not idle, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Meter:
    """CPU seconds of the servers, generator, Redis, this run's PostgreSQL backends and the
    whole machine over an interval."""

    def __init__(
        self,
        server_pids: Sequence[int],
        generator_pids: Sequence[int],
        redis_cpu: Callable[[], float] | None,
        pg_pids: Callable[[], list[int]] | None,
    ) -> None:
        self.server_pids = list(server_pids)
        self.generator_pids = list(generator_pids)
        self.redis_cpu = redis_cpu
        self.pg_pids = pg_pids
        self._start: dict[str, Any] = {}

    def _sample(self) -> dict[str, Any]:
        pg = {pid: proc_cpu_s(pid) for pid in self.pg_pids()} if self.pg_pids else {}
        return {
            "wall": time.monotonic(),
            "servers": [proc_cpu_s(pid) for pid in self.server_pids],
            "generator": sum(proc_cpu_s(pid) for pid in self.generator_pids),
            "redis": self.redis_cpu() if self.redis_cpu else 0.0,
            "pg": pg,
            "system": system_busy_s(),
        }

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> dict[str, Any]:
        end, start = self._sample(), self._start
        wall = end["wall"] - start["wall"]
        servers = [b - a for a, b in zip(start["servers"], end["servers"], strict=True)]
        generator = end["generator"] - start["generator"]
        redis = end["redis"] - start["redis"]
        pg = sum(cpu - start["pg"].get(pid, 0.0) for pid, cpu in end["pg"].items())
        system = end["system"] - start["system"]
        other = system - sum(servers) - generator - redis - pg

        def pct(seconds: float) -> float:
            return round(100 * seconds / wall, 1) if wall > 0 else 0.0

        return {
            "wall_s": round(wall, 3),
            "server_cpu_pct": [pct(s) for s in servers],
            "server_cpu_pct_total": pct(sum(servers)),
            "server_cpu_s": round(sum(servers), 3),
            "generator_cpu_pct": pct(generator),
            "redis_cpu_pct": pct(redis) if self.redis_cpu else None,
            "postgres_cpu_pct": pct(pg) if self.pg_pids else None,
            "machine_busy_pct": pct(system),
            "other_cpu_pct": pct(max(other, 0.0)),
        }


def redis_cpu_reader(url: str) -> Callable[[], float]:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)

    def read() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    return read


def pg_pid_reader(admin_url: str, db_name: str) -> Callable[[], list[int]]:
    import psycopg

    def read() -> list[int]:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (db_name,)
            ).fetchall()
        return [int(row[0]) for row in rows]

    return read
