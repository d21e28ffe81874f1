"""Fill a migrated chat database for a bench run: rooms, users, their room memberships
and one logged-in session per simulated user. Run by bench/preparing.py as
`python -m bench.prepare OUT.json` with the server's environment (DATABASE_URL,
DJANGO_SECRET_KEY, ...), after `manage.py migrate`.

Sessions are written directly (django.contrib.sessions' encoding and auth's session
keys), in bulk: logging in 10,000 users through the login form would take minutes.
"""

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path

import django

BATCH = 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--rooms", type=Path, required=True, help="JSON list of room slugs")
    parser.add_argument(
        "--memberships",
        type=Path,
        help="JSON list of [room slug, [user index, ...]]: user i is bench<i>",
    )
    args = parser.parse_args(argv)

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.base import VALID_KEY_CHARS
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.db import transaction
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from chat.models import Membership, Room

    slugs: list[str] = json.loads(args.rooms.read_text())
    with transaction.atomic():
        for slug in slugs:
            Room.objects.get_or_create(slug=slug, defaults={"name": slug})
        existing = User.objects.filter(username__startswith="bench").count()
        User.objects.bulk_create(
            [
                User(username=f"bench{i:05d}", password=make_password(None))
                for i in range(existing, args.users)
            ],
            batch_size=BATCH,
        )
    users = list(User.objects.filter(username__startswith="bench").order_by("username"))
    store = SessionStore()
    expires = timezone.now() + timedelta(days=1)
    sessions = [
        Session(
            session_key=get_random_string(32, VALID_KEY_CHARS),
            session_data=store.encode(
                {
                    SESSION_KEY: str(user.pk),
                    BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash(),
                }
            ),
            expire_date=expires,
        )
        for user in users[: args.users]
    ]
    with transaction.atomic():
        Session.objects.bulk_create(sessions, batch_size=BATCH)
    rooms = dict(Room.objects.filter(slug__in=slugs).values_list("slug", "pk"))
    if args.memberships is not None:
        # Written directly, as the sessions are: joining through the service for 40,000
        # memberships would take minutes. A pointer at 0 is a fresh room's last_seq
        # (nothing unread); older code has no pointer field and gets none.
        pointer = (
            {"last_read_seq": 0}
            if any(f.name == "last_read_seq" for f in Membership._meta.get_fields())
            else {}
        )
        user_ids = [user.pk for user in users]
        wanted = {
            (rooms[slug], user_ids[index])
            for slug, indices in json.loads(args.memberships.read_text())
            for index in indices
        }
        wanted -= set(Membership.objects.values_list("room_id", "user_id"))
        with transaction.atomic():
            Membership.objects.bulk_create(
                [Membership(room_id=room, user_id=user, **pointer) for room, user in wanted],
                batch_size=BATCH,
            )
    args.out.write_text(json.dumps({"sessions": [s.session_key for s in sessions], "rooms": rooms}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
