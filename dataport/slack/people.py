"""Slack users as accounts here: matched by email, else created without a usable
password (claimed by a password reset or SSO); deleted users as inactive accounts; bots
(`is_bot`, and the bot ids of `bot_message`s) as bot accounts (integrations/bots.py).
Each one recorded in SlackImported, so a rerun matches instead of creating again."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from accounts import profiles
from accounts.models import Profile
from chat import services
from chat.errors import ChatError
from chat.models import ApiToken
from dataport.models import SlackImported
from dataport.slack.summary import Summary
from integrations import bots

MAX_USERNAME_CHARS = 150
_NOT_USERNAME = re.compile(r"[^\w.@+-]")


@dataclass
class People:
    """Slack user id (and bot id) -> the account's id and username here. In a dry run
    accounts that would be created have id 0."""

    ids: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def add(self, slack_id: str, user_id: int, username: str) -> None:
        self.ids[slack_id] = user_id
        self.names[slack_id] = username


def _username_free(wanted: str, taken: set[str]) -> str:
    base = _NOT_USERNAME.sub("", wanted.replace(" ", "_"))[: MAX_USERNAME_CHARS - 8] or "slack"
    name, number = base, 1
    while name.lower() in taken or User.objects.filter(username__iexact=name).exists():
        number += 1
        name = f"{base}-{number}"
    taken.add(name.lower())
    return name


def _display_name(raw: str) -> str:
    try:
        return profiles.display_name_clean(raw)
    except ChatError:  # too long, or characters we refuse: kept shorter, or none
        try:
            return profiles.display_name_clean(raw[:50])
        except ChatError:
            return ""


def _recorded() -> dict[tuple[str, str], int]:
    rows = SlackImported.objects.filter(
        kind__in=[SlackImported.Kind.USER, SlackImported.Kind.BOT]
    ).values_list("kind", "slack_id", "local_id")
    return {(kind, slack_id): local for kind, slack_id, local in rows}


def people_import(users: list[Mapping[str, Any]], summary: Summary, *, dry_run: bool) -> People:
    """Map (and, unless `dry_run`, create) every user of users.json."""
    people = People()
    recorded = _recorded()
    usernames = dict(
        User.objects.filter(pk__in=set(recorded.values())).values_list("pk", "username")
    )
    taken: set[str] = set()
    for user in users:
        slack_id = str(user.get("id") or "")
        if not slack_id:
            summary.skipped("users", "no id")
            continue
        profile = user.get("profile") or {}
        is_bot = bool(user.get("is_bot")) or slack_id == "USLACKBOT"
        kind = SlackImported.Kind.BOT if is_bot else SlackImported.Kind.USER
        local = recorded.get((kind, slack_id))
        if local is not None and local in usernames:
            people.add(slack_id, local, usernames[local])
            if profile.get("bot_id"):
                people.add(str(profile["bot_id"]), local, usernames[local])
            summary.matched("users")
            continue
        name = str(user.get("name") or profile.get("display_name") or slack_id)
        shown = _display_name(
            str(
                profile.get("display_name")
                or profile.get("real_name")
                or user.get("real_name")
                or ""
            )
        )
        email = str(profile.get("email") or "").strip()
        account: User | None = None
        if not is_bot and email:
            found = list(User.objects.filter(email__iexact=email)[:2])
            account = found[0] if len(found) == 1 else None
        if account is not None:
            summary.matched("users")
            if not dry_run:
                SlackImported.objects.create(kind=kind, slack_id=slack_id, local_id=account.pk)
            people.add(slack_id, account.pk, account.get_username())
            continue
        username = _username_free(name, taken)
        if dry_run:
            people.add(slack_id, 0, username)
        elif is_bot:
            bot = _bot_create(slack_id, username, shown or name)
            people.add(slack_id, bot.pk, username)
        else:
            created = _person_create(
                slack_id, username, shown, email, active=not user.get("deleted")
            )
            people.add(slack_id, created.pk, username)
        if profile.get("bot_id"):
            people.add(str(profile["bot_id"]), people.ids[slack_id], username)
        summary.created("users")
    return people


def bot_for_message(
    bot_id: str, shown: str, people: People, summary: Summary, *, dry_run: bool
) -> None:
    """A bot known only from its messages (`bot_message` with a bot_id that no user of
    users.json carries): one bot account per bot id."""
    if bot_id in people.ids:
        return
    found = SlackImported.objects.filter(kind=SlackImported.Kind.BOT, slack_id=bot_id).first()
    if found is not None:
        username = User.objects.values_list("username", flat=True).filter(pk=found.local_id).first()
        if username is not None:
            people.add(bot_id, found.local_id, username)
            summary.matched("users")
            return
    username = _username_free(shown or f"bot-{bot_id}", set())
    if dry_run:
        people.add(bot_id, 0, username)
    else:
        people.add(bot_id, _bot_create(bot_id, username, shown or username).pk, username)
    summary.created("users")


@transaction.atomic
def _person_create(slack_id: str, username: str, shown: str, email: str, *, active: bool) -> User:
    user = User(username=username, email=email, is_active=active)
    user.set_unusable_password()  # claimed by a password reset or SSO
    user.save()
    Profile.objects.update_or_create(user=user, defaults={"display_name": shown})
    SlackImported.objects.create(kind=SlackImported.Kind.USER, slack_id=slack_id, local_id=user.pk)
    if active:
        services.user_join_defaults(user=user)
    return user


@transaction.atomic
def _bot_create(slack_id: str, username: str, shown: str) -> User:
    bot, _ = bots.bot_create(username=username, display_name=_display_name(shown), owner=None)
    # The token bot_create gives is for a live bot: an imported one posts nothing new.
    for token_id in ApiToken.objects.filter(user=bot).values_list("pk", flat=True):
        services.token_revoke(token_id=token_id, user=bot)
    SlackImported.objects.create(kind=SlackImported.Kind.BOT, slack_id=slack_id, local_id=bot.pk)
    return bot
