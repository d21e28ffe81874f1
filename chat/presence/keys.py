"""The Redis key layout of presence: the one definition of its key names and entry
format, used by every reader and writer (stores, the sync reader, the bench). No I/O."""

# Per room: a zset of entries ("user|process" -> expiry), a hash of user -> live entry
# count (who is online: its keys), and one set of every room with entries.


def room_entries_key(prefix: str, room_id: int) -> str:
    return f"{prefix}:presence:{room_id}"


def room_users_key(prefix: str, room_id: int) -> str:
    """The hash whose keys are the room's online users (every process's)."""
    return f"{room_entries_key(prefix, room_id)}:users"


def rooms_key(prefix: str) -> str:
    return f"{prefix}:presence:rooms"


def slugs_key(prefix: str) -> str:
    """room id -> slug, so that any process can name the room in a sweep's frame."""
    return f"{prefix}:presence:slugs"


def script_keys(prefix: str, room_id: int) -> list[str]:
    """KEYS of every script in scripts.py, in their order."""
    return [room_entries_key(prefix, room_id), room_users_key(prefix, room_id), rooms_key(prefix)]


def entry_member(username: str, process: str) -> str:
    # The sweep script takes the user back out of this (everything before the last "|").
    return f"{username}|{process}"
