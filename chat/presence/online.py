"""Who is online in a room, for sync code (a service resolving @here on a database
thread): every process's answer from Redis, or this process's stores without it. Reads
only; never from a coroutine (the Redis read blocks)."""

from collections.abc import Collection

from django.conf import settings

from chat.ops.redis_client import redis_client_sync
from chat.presence import keys
from chat.presence.stores import memory_stores


def online_usernames(room_id: int) -> set[str]:
    """Who is online in the room now, on every process, from sync code (a database
    thread): one Redis read, or this process's own stores without Redis."""
    if settings.REDIS_URL:
        key = keys.room_users_key(settings.CHAT_LAYER_PREFIX, room_id)
        return {str(name) for name in redis_client_sync(settings.REDIS_URL).hkeys(key)}
    found: set[str] = set()
    for store in list(memory_stores):
        found.update(store.users.get(room_id, ()))
    return found


def users_online(usernames: Collection[str]) -> set[str]:
    """Which of these users are online anywhere (in any room, on any process), for the
    people directory and profile cards. A user with the page open is online in every
    room they joined, so any room will do: one read of the rooms that have anyone
    online, then one pipelined HMGET per such room (bounded by the rooms with someone
    online, not by all rooms). Sync code only, like online_usernames."""
    wanted = [name for name in dict.fromkeys(usernames) if name]
    if not wanted:
        return set()
    if settings.REDIS_URL:
        prefix = settings.CHAT_LAYER_PREFIX
        client = redis_client_sync(settings.REDIS_URL)
        room_ids = [int(room_id) for room_id in client.smembers(keys.rooms_key(prefix))]
        pipe = client.pipeline(transaction=False)
        for room_id in room_ids:
            pipe.hmget(keys.room_users_key(prefix, room_id), wanted)
        found: set[str] = set()
        for counts in pipe.execute():
            found.update(name for name, count in zip(wanted, counts, strict=True) if count)
        return found
    online: set[str] = set()
    for store in list(memory_stores):
        for users in list(store.users.values()):
            online.update(users)
    return online.intersection(wanted)
