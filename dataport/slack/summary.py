"""What `manage.py slack_import` did, counted: per kind of thing (users, rooms,
messages, threads, reactions, files) how many were created, matched (there already) or
skipped, with the reasons; and a progress bar on stderr. Pure (no Django)."""

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

KINDS = ("users", "rooms", "messages", "threads", "reactions", "files")


@dataclass
class Tally:
    created: int = 0
    matched: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> how many


class Summary:
    def __init__(self) -> None:
        self.tallies = {kind: Tally() for kind in KINDS}
        # Slack reaction names without an emoji of ours: kept here as their :name: text.
        self.unknown_reactions: Counter[str] = Counter()

    def created(self, kind: str, n: int = 1) -> None:
        self.tallies[kind].created += n

    def matched(self, kind: str, n: int = 1) -> None:
        self.tallies[kind].matched += n

    def skipped(self, kind: str, reason: str, n: int = 1) -> None:
        self.tallies[kind].skipped[reason] += n

    def lines(self, *, dry_run: bool) -> list[str]:
        head = "Slack import (dry run: nothing was written)" if dry_run else "Slack import"
        out = [head, f"{'':10} {'created':>10} {'matched':>10} {'skipped':>10}"]
        for kind, tally in self.tallies.items():
            skipped = sum(tally.skipped.values())
            out.append(f"{kind:10} {tally.created:>10} {tally.matched:>10} {skipped:>10}")
            for reason, n in sorted(tally.skipped.items(), key=lambda item: -item[1]):
                out.append(f"    {kind} skipped: {reason}: {n}")
        if self.unknown_reactions:
            names = ", ".join(
                f":{name}: ({n})" for name, n in self.unknown_reactions.most_common(30)
            )
            out.append(f"    reactions without an emoji here: {names}")
        return out


class Progress:
    """A one-line bar on stderr, redrawn at most 5 times a second (a line every 10% when
    stderr is not a terminal, so logs stay short)."""

    WIDTH = 30
    REDRAW_S = 0.2

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.messages = 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._drawn_at = 0.0
        self._decile = -1

    def advance(self, units: int, messages: int) -> None:
        self.done = min(self.total, self.done + units)
        self.messages += messages
        self.draw()

    def draw(self, final: bool = False) -> None:
        now = time.monotonic()
        fraction = self.done / self.total
        if self.tty:
            if not final and now - self._drawn_at < self.REDRAW_S:
                return
        elif not final and int(fraction * 10) == self._decile:
            return
        self._drawn_at, self._decile = now, int(fraction * 10)
        filled = int(fraction * self.WIDTH)
        rate = self.messages / max(now - self.started, 1e-6)
        line = (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:4.0%}"
            f" {self.messages} messages, {rate:.0f}/s"
        )
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        if final and self.tty:
            self.stream.write("\n")
        self.stream.flush()
