"""How notifications are delivered: missed-email state, the push subscriptions of each
user's devices, and the heartbeats of the job runners. What a user wants (per-room
levels, do not disturb, email on or off) is chat's: chat.Membership.notify_level and
chat.NotifyPrefs, read with the rest of the room state."""

from django.conf import settings
from django.db import models


class MissedEmailState(models.Model):
    """One per user who was ever due a missed-messages email."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="missed_email_state"
    )
    # When the pending email is due; null: none pending. Set only when null, so the
    # first unread mention starts the delay and later ones join that email.
    email_due_at = models.DateTimeField(null=True, blank=True)
    # The highest message id an email has told about: a retried job never repeats one.
    emailed_through = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"missed-email state of {self.user}"


class PushSubscription(models.Model):
    """One browser's Web Push subscription (a device): where to post and the keys that
    encrypt for it (RFC 8291). Deleted when the push service answers 404 or 410."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)  # the browser's public key, base64url
    auth = models.CharField(max_length=100)  # the shared auth secret, base64url
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"push subscription {self.pk} of {self.user}"


class WorkerBeat(models.Model):
    """A running job runner (a daphne process or a chat_worker): its last heartbeat. A
    job claimed by a runner whose beat is older than CHAT_JOB_LEASE_SECONDS is handed
    back to the queue (the runner was killed)."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.worker_id
