"""Test-owned Redis servers: a plain one (for the sharded channel layer) and a Sentinel
set-up (one primary, one replica, three sentinels), each process in a temp dir of its
own on a free loopback port, killed and removed at the end. Debian's `redis-server` and
`redis-sentinel` binaries (.ci/run installs them)."""

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.servers import free_port

MASTER_NAME = "chatprimary"
SENTINELS = 3
QUORUM = 2
# Low, so a test sees a failover in seconds: a primary silent this long is subjectively
# down, and a failover that stalls is retried after twice the timeout.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
START_TIMEOUT_SECONDS = 15


def binaries_present() -> bool:
    return all(shutil.which(name) for name in ("redis-server", "redis-sentinel"))


@dataclass
class RedisProcess:
    """One redis-server or redis-sentinel; `args` follow the binary."""

    binary: str
    port: int
    workdir: Path
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def client(self) -> "redis.Redis":
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=2, decode_responses=True
        )

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "log").open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, *self.args], cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                with self.client() as client:
                    if client.ping():
                        return
            except redis.RedisError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.binary} on {self.port} did not start: {self.log()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to replicas or sentinels."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self) -> str:
        path = self.workdir / "log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def redis_server(workdir: Path, *extra: str) -> RedisProcess:
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return RedisProcess("redis-server", port, workdir, [*args, "--dir", str(workdir), *extra])


@contextmanager
def plain_redis(count: int) -> Iterator[list[RedisProcess]]:
    """`count` independent redis-servers (the sharded channel layer's)."""
    with tempfile.TemporaryDirectory(prefix="redis-") as root:
        servers = [redis_server(Path(root) / f"r{i}") for i in range(count)]
        try:
            for server in servers:
                server.start()
            yield servers
        finally:
            for server in servers:
                server.kill()


@dataclass
class SentinelSet:
    primary: RedisProcess
    replica: RedisProcess
    sentinels: list[RedisProcess] = field(default_factory=list)

    @property
    def addresses(self) -> str:
        """REDIS_SENTINELS"""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def env(self, db: int = 0) -> dict[str, str]:
        """The daphnes' settings: the sentinels, the master's name, REDIS_URL for the db
        number (its host is not used: the master's name stands there)."""
        return {
            "REDIS_URL": f"redis://{MASTER_NAME}/{db}",
            "REDIS_SENTINELS": self.addresses,
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
        }

    def primary_port(self) -> int | None:
        """The primary's port as the first sentinel that answers says, or None."""
        for sentinel in self.sentinels:
            try:
                with sentinel.client() as client:
                    found = client.sentinel_get_master_addr_by_name(MASTER_NAME)
                    if found:
                        return int(found[1])
            except redis.RedisError:
                continue
        return None

    def wait_failover_ready(self) -> None:
        """Replica in sync, and every sentinel knows the replica and the other sentinels
        (they find each other through the primary within seconds): before that, killing
        the primary would not lead to a failover. Clients need not wait for it."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._ready():
                return
            time.sleep(0.1)
        raise RuntimeError(
            "sentinel set-up not ready:\n" + "\n".join(s.log() for s in self.sentinels)
        )

    def _ready(self) -> bool:
        try:
            with self.replica.client() as client:
                if client.info("replication").get("master_link_status") != "up":
                    return False
            for sentinel in self.sentinels:
                with sentinel.client() as client:
                    state = client.sentinel_master(MASTER_NAME)
                    if (
                        int(state["num-slaves"]) < 1
                        or int(state["num-other-sentinels"]) < SENTINELS - 1
                    ):
                        return False
        except redis.RedisError:
            return False
        return True

    def wait_promoted(self, old_port: int, timeout: float) -> int:
        """The new primary's port once the sentinels name one other than `old_port` and it
        answers as a primary."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.primary_port()
            if port is not None and port != old_port:
                try:
                    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1) as client:
                        if client.info("replication").get("role") == "master":
                            return port
                except redis.RedisError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"no failover within {timeout}s:\n" + self.sentinels[0].log())


def _sentinel_config(workdir: Path, port: int, primary_port: int) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "sentinel.conf"  # sentinels rewrite their config: a file of their own
    config.write_text(
        f"port {port}\n"
        "bind 127.0.0.1\n"
        f"dir {workdir}\n"
        f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} {QUORUM}\n"
        f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
        f"sentinel parallel-syncs {MASTER_NAME} 1\n"
    )
    return config


@contextmanager
def sentinel_set() -> Iterator[SentinelSet]:
    """A primary, its replica and three sentinels watching them, all answering; all
    killed at the end. Call `wait_failover_ready()` before killing the primary."""
    with tempfile.TemporaryDirectory(prefix="redis-sentinel-") as root:
        base = Path(root)
        primary = redis_server(base / "primary")
        replica = redis_server(base / "replica", "--replicaof", "127.0.0.1", str(primary.port))
        sentinels = []
        for index in range(SENTINELS):
            port = free_port()
            config = _sentinel_config(base / f"sentinel{index}", port, primary.port)
            sentinels.append(RedisProcess("redis-sentinel", port, config.parent, [str(config)]))
        setup = SentinelSet(primary, replica, sentinels)
        everything = [primary, replica, *sentinels]
        try:
            for process in everything:
                process.start()
            yield setup
        finally:
            for process in everything:
                process.kill()
