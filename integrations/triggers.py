"""Whether a saved message triggers an outgoing webhook, and with which word. Pure: no
Django, no I/O; integrations/deliveries.py feeds it what it read."""

from dataclasses import dataclass

MAX_TRIGGER_CHARS = 80  # Delivery.trigger_word's column
MAX_TRIGGERS = 20


@dataclass(frozen=True, slots=True)
class HookRule:
    triggers: tuple[str, ...]  # words a message may start with (compared case-insensitively)
    on_mention: bool
    on_all: bool
    bot_username: str


@dataclass(frozen=True, slots=True)
class Seen:
    """The message as the rule needs it."""

    body: str
    mentions: tuple[str, ...]  # usernames it @mentions (chat's own mention rows)
    by_bot: bool  # a bot wrote it (or the server: kind "system")
    in_dm_with_bot: bool  # a direct conversation with this hook's bot


@dataclass(frozen=True, slots=True)
class Match:
    trigger_word: str | None  # the word it starts with, when that is what matched


def trigger_match(rule: HookRule, seen: Seen) -> Match | None:
    """The match, or None. Bots never trigger a hook (two bots answering each other
    would loop forever); a trigger word wins over the other reasons so the receiver is
    told which word it was."""
    if seen.by_bot:
        return None
    first = first_word(seen.body)
    if first:
        for word in rule.triggers:
            if first.casefold() == word.casefold():
                return Match(first)
    mentioned = rule.bot_username.casefold() in {name.casefold() for name in seen.mentions}
    if seen.in_dm_with_bot or rule.on_all or (rule.on_mention and mentioned):
        return Match(None)
    return None


def first_word(body: str) -> str:
    parts = body.split(maxsplit=1)
    return parts[0] if parts else ""


def triggers_clean(words: list[str]) -> list[str]:
    """The trigger words as stored: each one word, no repeats; ValueError otherwise."""
    cleaned: list[str] = []
    for raw in words:
        word = raw.strip()
        if not word or len(word.split()) != 1 or len(word) > MAX_TRIGGER_CHARS:
            raise ValueError(f"a trigger is one word of at most {MAX_TRIGGER_CHARS} characters")
        if word.casefold() not in {w.casefold() for w in cleaned}:
            cleaned.append(word)
    if len(cleaned) > MAX_TRIGGERS:
        raise ValueError(f"at most {MAX_TRIGGERS} trigger words")
    return cleaned
