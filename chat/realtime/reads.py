"""The realtime package's only door to the database: selectors called on the read
threads (chat/database/dbcalls.py), their rows turned into ready frames, and the profile
cache the selectors keep. Reads only, but for one bookkeeping UPDATE (when the open
sessions were last seen); never imports chat.models itself (the contracts in
.importlinter check the package)."""

from accounts.identity.sessions_seen import sessions_seen
from accounts.selectors import profile_forget, sessions_invalid
from chat import events, selectors
from chat.database import dbcalls
from chat.database.outage import OutageLog as OutageLog  # the periodic tasks' failure log
from chat.realtime.ordering import READ_CHUNK, Read


async def messages(room_id: int, read: Read) -> list[tuple[int, str]]:
    """(seq, message frame) of the room's messages `read` asks for, oldest first."""
    rows = await dbcalls.read(
        selectors.message_list,
        room_id=room_id,
        after=read.after,
        before=read.up_to + 1,
        limit=READ_CHUNK,
        every=True,  # the stream carries thread replies too
    )
    return [(row["seq"], events.message_frame(row)) for row in rows]


def profiles_forget() -> None:
    """Drop this process's cached profiles (another process saw one change)."""
    profile_forget(None)


async def last_seqs(room_ids: list[int]) -> dict[int, int]:
    """Each room's committed last seq, in one query."""
    seqs: dict[int, int] = await dbcalls.read(selectors.room_last_seqs, room_ids=room_ids)
    return seqs


async def sessions_to_close(
    sockets: list[tuple[str | None, int]],
) -> dict[tuple[str | None, int], int]:
    """The (session key, user id) pairs behind open sockets that no longer hold, with
    the code to close their sockets with (a few queries per 500 sockets)."""
    found: dict[tuple[str | None, int], int] = await dbcalls.read(sessions_invalid, sockets=sockets)
    return found


async def sessions_mark_seen(session_keys: list[str]) -> None:
    """Bump the last seen time of the sessions behind open sockets (one UPDATE, on a
    read thread: it publishes nothing and orders with nothing)."""
    await dbcalls.read(sessions_seen, session_keys=session_keys)


async def thread_totals(user_ids: list[int]) -> dict[int, selectors.ThreadTotals]:
    """Each user's totals over the threads they follow (hello's `threads`), one query."""
    totals: dict[int, selectors.ThreadTotals] = await dbcalls.read(
        selectors.thread_totals, user_ids=user_ids
    )
    return totals
