"""Connects the integrations app to chat's signals (chat never imports integrations):
the write path's `hooks_requested` queues the outgoing webhooks' job in the saving
transaction, and every change of a hook or of its bot's direct conversations recounts
`Room.outgoing_hooks` (integrations/outgoing.py)."""

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from chat.events import hooks_requested
from chat.models import Membership
from integrations.models import OutgoingWebhook
from integrations.outgoing import hook_rooms, outgoing_hooks_recount


@receiver(hooks_requested, dispatch_uid="integrations.hooks_requested")
def _hooks_requested(sender: object, *, message_ids: list[int], **kwargs: Any) -> None:
    from integrations.tasks import deliveries_plan  # the task module imports the runner

    # Not robust on purpose: in the saving transaction, a job that cannot be queued
    # fails the save, so a committed message never misses its deliveries.
    deliveries_plan.enqueue(message_ids=list(message_ids))


@receiver(pre_save, sender=OutgoingWebhook, dispatch_uid="integrations.hook_before")
def _hook_before(sender: Any, instance: OutgoingWebhook, **kwargs: Any) -> None:
    # The room it watched until now (the admin may move a hook to another room).
    previous = OutgoingWebhook.objects.filter(pk=instance.pk).values_list("room_id", flat=True)
    instance._rooms_before = {*previous} if instance.pk else set()  # type: ignore[attr-defined]


@receiver(pre_delete, sender=OutgoingWebhook, dispatch_uid="integrations.hook_deleting")
def _hook_deleting(sender: Any, instance: OutgoingWebhook, **kwargs: Any) -> None:
    # Before a cascade (its bot's deletion) removes the bot's direct conversations.
    instance._rooms_before = hook_rooms(instance)  # type: ignore[attr-defined]


@receiver(post_save, sender=OutgoingWebhook, dispatch_uid="integrations.hook_saved")
@receiver(post_delete, sender=OutgoingWebhook, dispatch_uid="integrations.hook_deleted")
def _hook_changed(sender: Any, instance: OutgoingWebhook, **kwargs: Any) -> None:
    before: set[int] = getattr(instance, "_rooms_before", set())
    outgoing_hooks_recount(before | hook_rooms(instance))


@receiver(post_save, sender=Membership, dispatch_uid="integrations.membership_saved")
def _membership_saved(sender: Any, instance: Membership, created: bool, **kwargs: Any) -> None:
    # A direct conversation with a hook's bot is watched by that hook from its start.
    direct = created and instance.room.is_direct
    if direct and OutgoingWebhook.objects.filter(bot_id=instance.user_id).exists():
        outgoing_hooks_recount({instance.room_id})
