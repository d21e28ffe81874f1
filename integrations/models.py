"""Integrations: incoming webhooks (Slack-compatible), outgoing webhooks and their
deliveries, custom slash commands and their response URLs. Models hold data and
constraints only; integrations/services write them. Bots themselves are accounts
(accounts.Profile.is_bot)."""

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone

from chat.models import Message, Room


class IncomingWebhook(models.Model):
    """`POST /hooks/<key>` posts into `room` as `bot` (an account of its own, named after
    the hook). Only the SHA-256 of the key is stored (as for chat.ApiToken)."""

    name = models.CharField(max_length=80)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="incoming_webhooks")
    bot = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="incoming_webhook"
    )
    # Rooms staff allowed it besides its own (the payload's `channel`).
    other_rooms = models.ManyToManyField(Room, blank=True, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The start of the hook's key.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="incoming_webhooks_made",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} → {self.room_id}"


class OutgoingWebhook(models.Model):
    """Messages of `room` that match its triggers are POSTed, signed, to `url`; a JSON
    answer is posted back by `bot`. Direct messages to its bot always trigger it."""

    name = models.CharField(max_length=80)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="outgoing_webhooks")
    bot = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="outgoing_webhook"
    )
    url = models.URLField(max_length=500)
    # Kept as it is, not hashed: each request is signed with it (HMAC-SHA256).
    secret = models.CharField(max_length=80)
    triggers = models.JSONField(default=list, blank=True)  # words a message may start with
    on_mention = models.BooleanField(default=False)  # messages that @mention its bot
    on_all = models.BooleanField(default=False)  # every message of the room
    enabled = models.BooleanField(default=True)
    failures_in_row = models.PositiveIntegerField(default=0)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="outgoing_webhooks_made",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ← {self.room_id}"


class Delivery(models.Model):
    """One message handed to an outgoing webhook: its attempts and outcome. The owner
    sees the last 50 per hook; `delivery_id` is sent as X-Chat-Delivery on every try."""

    class State(models.TextChoices):
        PENDING = "pending"
        OK = "ok"
        RETRYING = "retrying"
        FAILED = "failed"

    hook = models.ForeignKey(OutgoingWebhook, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.UUIDField(unique=True)
    message = models.ForeignKey(Message, null=True, on_delete=models.SET_NULL, related_name="+")
    trigger_word = models.CharField(max_length=80, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    status = models.PositiveIntegerField(null=True, blank=True)  # the last HTTP status
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["hook", "-created_at"], name="delivery_hook_recent")]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} ({self.state})"


class SlashCommand(models.Model):
    """A custom `/name`: the text after it is POSTed to `url` as Slack sends it, with
    `token` so the receiver knows it is us (kept as it is: it is sent, not checked)."""

    name = models.SlugField(max_length=32, unique=True, help_text="Without the slash.")
    url = models.URLField(max_length=500)
    token = models.CharField(max_length=80)
    description = models.CharField(max_length=200, blank=True)
    usage = models.CharField(max_length=100, blank=True, help_text='e.g. "[city]"')
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"/{self.name}"


class CommandResponse(models.Model):
    """A command's `response_url`: up to 5 posts within 30 minutes, as the caller, in
    the room it was run in. Only the SHA-256 of its secret is stored."""

    digest = models.CharField(max_length=64, unique=True)
    command = models.ForeignKey(
        SlashCommand, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"response url of {self.command_id}"


class BotAccount(User):
    """Bot accounts in the admin (a proxy of User: no table of its own): made through
    integrations.bots (unusable password, first API token), listed apart from people."""

    class Meta:
        proxy = True
        verbose_name = "bot"
        verbose_name_plural = "bots"
