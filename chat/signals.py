"""Hooks on models this app does not own: every new account joins the default rooms,
whatever creates it (sign-up, the admin, createsuperuser, a script)."""

from typing import Any

from django.contrib.auth.models import User
from django.db.models.signals import post_save
from django.dispatch import receiver

from chat import services


@receiver(post_save, sender=User, dispatch_uid="chat.user_join_defaults")
def user_created(
    sender: type[User], instance: User, created: bool, raw: bool, **kwargs: Any
) -> None:
    if created and not raw:  # raw: loaddata replays rows, memberships come with them
        services.user_join_defaults(user=instance)
