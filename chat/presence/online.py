"""Who is online in a room, for sync code (a service resolving @here on a database
thread): every process's answer from Redis, or this process's stores without it. Reads
only; never from a coroutine (the Redis read blocks)."""

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
