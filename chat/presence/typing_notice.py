"""The typing notice: tells a room's other members that a user is typing. Publishes
only (nothing is stored: a notice that is lost simply lapses in the browsers)."""

from chat import events


async def typing_announce(
    *, room_id: int, slug: str, username: str, thread: int | None = None
) -> None:
    # `thread`: typing in that thread's composer (shown in its panel, not the room).
    frame = {"type": "typing", "room": slug, "user": username, "thread": thread}
    await events.publish_now(events.room_frame(room_id, frame, exclude_user=username))
