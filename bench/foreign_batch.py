"""What a process pays for the batches of rooms it has no socket in: every process's hub
hears every batch on `chat.messages` (docs/architecture.md), so with P processes each
saved message is received P times. This measures that cost per message, per receiving
process, and Redis's cost per message per subscriber, for the sizing section of
docs/deployment.md.

    DJANGO_SECRET_KEY=x .venv/bin/python -m bench.foreign_batch \
        [--redis-url redis://127.0.0.1:6379/9] [--subscribers 1 4 8] [--messages 40000]

Each subscriber is its own process running the real channel layer (channels-redis
pub/sub) and the real `Hub.dispatch` with no local rooms, as a process none of whose
sockets is in the batch's rooms. The publisher sends `--messages` messages in batches of
`--batch` (one `group_send` per batch, as the writer does), paced at `--rate` messages/s.
Reported: subscriber CPU µs per message (median over subscribers), Redis CPU µs per
message and per message per subscriber (INFO cpu; Redis is shared, so run it on a quiet
Redis), and the messages each subscriber received (all of them, or the layer dropped some).
"""

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import statistics
import time
from typing import Any

MESSAGES_GROUP = "chat.messages"
PREFIX = "benchfb"


def _frame(n: int) -> str:
    # The shape and size of a real message frame (chat/events/frames.py).
    return json.dumps(
        {
            "type": "message",
            "room": f"r-{n % 400}",
            "message": {
                "id": n,
                "room": f"r-{n % 400}",
                "seq": n,
                "author": "someone",
                "body": f"a message of ordinary length, number {n}, with a few words in it",
                "html": f"<p>a message of ordinary length, number {n}, with a few words</p>",
                "created_at": "2026-12-07T01:00:00.000000+00:00",
                "client_id": f"c-{n}",
                "edited_at": None,
                "kind": "user",
                "attachment": None,
                "mentions": [],
                "reply_to": None,
                "reactions": [],
                "thread": None,
                "also_to_room": False,
                "thread_summary": None,
            },
        },
        separators=(",", ":"),
    )


def _layer(url: str) -> Any:
    from channels_redis.pubsub import RedisPubSubChannelLayer

    return RedisPubSubChannelLayer(hosts=[{"address": url}], prefix=PREFIX)


def _subscriber(url: str, total: int, ready: Any, out: Any) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ.pop("REDIS_URL", None)  # presence in memory: only the layer is measured
    os.environ.setdefault("DJANGO_DEBUG", "1")  # no production settings needed here
    import django

    django.setup()
    from chat.presence.tracker import presence_for_process
    from chat.realtime.hub import Hub
    from chat.realtime.registry import Registry

    async def main() -> tuple[int, float]:
        layer = _layer(url)
        channel = await layer.new_channel(prefix="hub.")
        await layer.group_add(MESSAGES_GROUP, channel)
        hub = Hub(layer=layer, channel=channel, tracker=presence_for_process(), registry=Registry())
        ready.set()
        got = 0
        started = None
        while got < total:
            event = await layer.receive(channel)
            if event.get("type") == "bench.stop":
                break
            if started is None:
                started = resource.getrusage(resource.RUSAGE_SELF)
            await hub.dispatch(event)
            got += len(event["items"])
        end = resource.getrusage(resource.RUSAGE_SELF)
        cpu = 0.0
        if started is not None:
            cpu = (end.ru_utime + end.ru_stime) - (started.ru_utime + started.ru_stime)
        await layer.flush()
        return got, cpu

    out.put(asyncio.run(main()))


def _redis_cpu(url: str) -> float:
    import redis

    info = redis.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run(url: str, subscribers: int, messages: int, batch: int, rate: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out: Any = ctx.Queue()
    readies = [ctx.Event() for _ in range(subscribers)]
    procs = [ctx.Process(target=_subscriber, args=(url, messages, ready, out)) for ready in readies]
    for proc in procs:
        proc.start()
    for ready in readies:
        if not ready.wait(60):
            raise RuntimeError("a subscriber did not start within 60 s")

    async def publish() -> float:
        layer = _layer(url)
        await asyncio.sleep(0.5)  # every subscription in place
        redis_before = _redis_cpu(url)
        interval = batch / rate
        start = time.monotonic()
        for k, first in enumerate(range(0, messages, batch)):
            items = [[n % 400, n, _frame(n)] for n in range(first, min(first + batch, messages))]
            await layer.group_send(MESSAGES_GROUP, {"type": "chat.messages", "items": items})
            delay = start + (k + 1) * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.sleep(1.0)
        redis_cpu = _redis_cpu(url) - redis_before
        await layer.group_send(MESSAGES_GROUP, {"type": "bench.stop"})
        await layer.flush()
        return redis_cpu

    redis_cpu = asyncio.run(publish())
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    per_message = [cpu / got * 1e6 for got, cpu in results if got]
    return {
        "subscribers": subscribers,
        "received": [got for got, _ in results],
        "subscriber_us_per_message": round(statistics.median(per_message), 2),
        "redis_us_per_message": round(redis_cpu / messages * 1e6, 2),
        "redis_us_per_message_per_subscriber": round(redis_cpu / messages / subscribers * 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--rate", type=float, default=4_000.0, help="messages/s published")
    args = parser.parse_args()
    frame_bytes = len(_frame(123456))
    print(f"frame {frame_bytes} bytes, batches of {args.batch}, {args.rate:.0f} msg/s")
    for count in args.subscribers:
        print(json.dumps(run(args.redis_url, count, args.messages, args.batch, args.rate)))


if __name__ == "__main__":
    main()
