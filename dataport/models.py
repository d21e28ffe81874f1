"""Records of imports and exports (dataport/): the models are added by the features that
need them."""

from django.db import models


class SlackImported(models.Model):
    """One Slack object `manage.py slack_import` brought in, by its Slack id: what makes
    a rerun (or a run after an interruption) import nothing twice. Users and
    conversations have one row each; messages do not (a million rows more): a
    conversation's row keeps `last_ts`, the newest message ts imported, written in the
    same transaction as each batch of its messages (dataport/slack/importer.py)."""

    class Kind(models.TextChoices):
        USER = "user"
        BOT = "bot"
        ROOM = "room"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    slack_id = models.CharField(max_length=64)
    local_id = models.BigIntegerField()  # the User's or the Room's primary key
    # Conversations only: the `ts` of the newest message imported ("" before any). Slack
    # ts strings ("1712345678.000200") have a fixed 6-digit fraction, but they are
    # compared as Decimals, never as text.
    last_ts = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "slack_id"], name="slack_imported_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.slack_id} -> {self.local_id}"
