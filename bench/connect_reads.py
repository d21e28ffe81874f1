"""CPU of each database read an authenticated connect makes, without sockets: the plain
statements the connect uses now beside the ORM reads they replaced (issue #28).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME DJANGO_SECRET_KEY=x \\
        DJANGO_ALLOWED_HOSTS=localhost python -m bench.connect_reads [--calls 300]

Makes one user with a logged-in session (once per database) and calls each read
`--calls` times after one warm-up call; prints this process's CPU time per call in µs
(what a server's database thread pays; PostgreSQL's own CPU is not in it). Run it
twice and read the pairs side by side: each line's ORM and plain forms run in the same
process, one after the other.
"""

import argparse
import os
import time
from collections.abc import Callable

import django


def per_call(read: Callable[[], object], calls: int) -> float:
    read()
    started = time.process_time()
    for _ in range(calls):
        read()
    return 1e6 * (time.process_time() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends import db

    from accounts import selectors as accounts_selectors
    from accounts import session_db
    from chat import selectors
    from integrations import commands
    from integrations.models import SlashCommand

    user, _ = User.objects.get_or_create(username="bench-connect-reads")
    store = session_db.SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    key = store.session_key

    def profile_orm() -> object:
        accounts_selectors.profile_forget(user.pk)  # the cache would answer otherwise
        return accounts_selectors.user_profile(user.pk)

    def commands_orm() -> object:
        custom = SlashCommand.objects.filter(enabled=True)
        return list(custom.values_list("name", "description", "usage"))

    reads: list[tuple[str, Callable[[], object]]] = [
        ("session load, Django's db engine (ORM)", lambda: db.SessionStore(key).load()),
        ("session load, accounts.session_db (plain)", lambda: session_db.SessionStore(key).load()),
        (
            "session + its user (session_db, Django's get_user)",
            lambda: session_db.session_user(session_db.SessionStore(key)),
        ),
        ("profile (ORM, cache missed)", profile_orm),
        ("notify prefs (ORM)", lambda: selectors.notify_prefs(user.pk)),
        (
            "profile + notify prefs (plain, one statement)",
            lambda: selectors.user_profile_and_prefs(user.pk),
        ),
        ("slash commands (ORM)", commands_orm),
        ("slash commands (plain)", commands.commands_list),
        ("rooms to join (plain)", lambda: selectors.rooms_to_join(user_id=user.pk)),
        ("rooms' state (plain)", lambda: selectors.user_rooms(user_id=user.pk)),
        ("thread totals (plain)", lambda: selectors.thread_totals(user_ids=[user.pk])),
    ]
    for name, read in reads:
        print(f"{per_call(read, args.calls):8.1f} µs  {name}")


if __name__ == "__main__":
    main()
